import CVips
import Foundation

/// Resampling kernels for ``PlanarImage/resized(width:height:kernel:)``.
public enum ResizeKernel: String, Sendable, CaseIterable {
    case nearest, linear, cubic, mitchell, lanczos2, lanczos3

    var vips: Int32 {
        switch self {
        case .nearest: return IGN_KERNEL_NEAREST
        case .linear: return IGN_KERNEL_LINEAR
        case .cubic: return IGN_KERNEL_CUBIC
        case .mitchell: return IGN_KERNEL_MITCHELL
        case .lanczos2: return IGN_KERNEL_LANCZOS2
        case .lanczos3: return IGN_KERNEL_LANCZOS3
        }
    }
}

/// How ``PlanarImage/padded(left:top:right:bottom:mode:)`` fills new pixels.
public enum PadMode: Equatable, Sendable {
    /// A constant value in [-1, 1] (e.g. 1 for white).
    case constant(Float)
    /// Repeat the nearest edge pixel.
    case edge
    /// Mirror the image at its edges (the edge pixel is not repeated).
    case reflect
}

extension PlanarImage {
    /// The image resampled to exactly `width` × `height` with libvips' resize (area
    /// shrink plus the kernel; Lanczos-3 by default). Results are clamped to [-1, 1].
    public func resized(width newWidth: Int, height newHeight: Int,
                        kernel: ResizeKernel = .lanczos3) throws -> PlanarImage {
        try PlanarImage.checkShape(width: newWidth, height: newHeight, channels: channels)
        if newWidth == width && newHeight == height { return self }
        let source = try vipsFloat()
        let hscale = Double(newWidth) / Double(width)
        let vscale = Double(newHeight) / Double(height)
        var out = try source.apply("resize") { ign_vips_resize($0, $1, hscale, vscale, kernel.vips) }
        if out.width != newWidth || out.height != newHeight {
            // Guard against an off-by-one from rounding: pad by repetition, then crop.
            let padded = try out.apply("embed") {
                ign_vips_embed($0, $1, 0, 0, Int32(max(newWidth, out.width)), Int32(max(newHeight, out.height)),
                               IGN_EXTEND_COPY, 0)
            }
            out = try padded.apply("crop") {
                ign_vips_extract_area($0, $1, 0, 0, Int32(newWidth), Int32(newHeight))
            }
        }
        return try PlanarImage.fromVips(out)
    }

    /// The rectangle at (`x`, `y`) of size `width` × `height`, which must lie inside the image.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) throws -> PlanarImage {
        guard w > 0, h > 0, x >= 0, y >= 0, x + w <= width, y + h <= height else {
            throw ImagingError(.invalidArgument, path: nil,
                               "crop \(w)x\(h)+\(x)+\(y) is not inside \(width)x\(height)")
        }
        if x == 0 && y == 0 && w == width && h == height { return self }
        var out = [Float](repeating: 0, count: w * h * channels)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels {
                    for row in 0..<h {
                        let s = (c * height + y + row) * width + x
                        let d = (c * h + row) * w
                        for i in 0..<w { dst[d + i] = src[s + i] }
                    }
                }
            }
        }
        return PlanarImage(unchecked: w, h, channels, out)
    }

    /// The image with margins added on each side, filled according to `mode`.
    public func padded(left: Int, top: Int, right: Int, bottom: Int, mode: PadMode = .constant(1)) throws -> PlanarImage {
        guard left >= 0, top >= 0, right >= 0, bottom >= 0 else {
            throw ImagingError(.invalidArgument, path: nil, "padding must not be negative")
        }
        let w = width + left + right, h = height + top + bottom
        try PlanarImage.checkShape(width: w, height: h, channels: channels)
        if case .reflect = mode, left >= width || right >= width || top >= height || bottom >= height {
            throw ImagingError(.invalidArgument, path: nil, "reflect padding must be smaller than the image")
        }
        func source(_ i: Int, _ n: Int) -> Int {
            switch mode {
            case .constant: return i
            case .edge: return min(n - 1, max(0, i))
            case .reflect: return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i)
            }
        }
        var fill: Float = 0
        var constant = false
        if case .constant(let v) = mode { fill = v; constant = true }
        var out = [Float](repeating: fill, count: w * h * channels)
        for c in 0..<channels {
            for y in 0..<h {
                let sy = source(y - top, height)
                if constant && (sy < 0 || sy >= height) { continue }
                for x in 0..<w {
                    let sx = source(x - left, width)
                    if constant && (sx < 0 || sx >= width) { continue }
                    out[(c * h + y) * w + x] = pixels[(c * height + sy) * width + sx]
                }
            }
        }
        return PlanarImage(unchecked: w, h, channels, out)
    }

    /// Pads (centred) to at least `width` × `height`; dimensions already larger are kept.
    public func padded(toWidth newWidth: Int, height newHeight: Int, mode: PadMode = .constant(1)) throws -> PlanarImage {
        let dx = max(0, newWidth - width), dy = max(0, newHeight - height)
        return try padded(left: dx / 2, top: dy / 2, right: dx - dx / 2, bottom: dy - dy / 2, mode: mode)
    }

    /// Nearest-neighbour enlargement by an integer factor (for viewing tiny images).
    public func upscaled(by factor: Int) throws -> PlanarImage {
        guard factor >= 1 else { throw ImagingError(.invalidArgument, path: nil, "upscale factor must be ≥ 1") }
        if factor == 1 { return self }
        let w = width * factor, h = height * factor
        try PlanarImage.checkShape(width: w, height: h, channels: channels)
        var out = [Float](repeating: 0, count: w * h * channels)
        for c in 0..<channels {
            for y in 0..<h {
                let s = (c * height + y / factor) * width
                let d = (c * h + y) * w
                for x in 0..<w { out[d + x] = pixels[s + x / factor] }
            }
        }
        return PlanarImage(unchecked: w, h, channels, out)
    }

    /// Gaussian blur (libvips gaussblur, float precision) with `sigma` in pixels; σ ≤ 0
    /// returns the image unchanged. The mask runs out to where it falls below
    /// ``blurMaskCutoff`` of its peak, so even a small σ blurs.
    public func blurred(sigma: Double) throws -> PlanarImage {
        guard sigma.isFinite else { throw ImagingError(.invalidArgument, path: nil, "blur sigma must be finite") }
        if sigma <= 0 { return self }
        let out = try vipsFloat().apply("gaussblur") { ign_vips_gaussblur($0, $1, sigma, PlanarImage.blurMaskCutoff) }
        return try PlanarImage.fromVips(out)
    }

    /// Where ``blurred(sigma:)`` cuts its mask, relative to the peak: libvips' default, 0.2,
    /// leaves a one-tap mask (the image unchanged) for σ ≤ 0.5; 0.001 keeps the mask to
    /// about ±3.7σ, three taps even at σ 0.3.
    public static let blurMaskCutoff = 0.001

    /// Median filter over `size` × `size` windows (libvips median; size odd, ≥ 1).
    public func median(size: Int) throws -> PlanarImage {
        guard size >= 1, size % 2 == 1 else {
            throw ImagingError(.invalidArgument, path: nil, "median size must be odd and positive, got \(size)")
        }
        if size == 1 { return self }
        let out = try vipsFloat().apply("median") { ign_vips_median($0, $1, Int32(size)) }
        return try PlanarImage.fromVips(out)
    }
}

/// A cover of a `width` × `height` image by `tileWidth` × `tileHeight` tiles overlapping by at
/// least `overlap` pixels, for running a network over an image in pieces.
///
/// Tiles are spread evenly, the first at the top-left and the last flush with the right
/// and bottom edges, their origins multiples of `alignment` (so that a strided network sees
/// every tile on the grid it would see in the whole image). ``copyTile(_:from:to:)`` cuts them
/// out; ``Blender`` reassembles them, tile by tile, with a separable raised-cosine window
/// normalised by the summed weights, so seams are smooth and unchanged tiles reproduce the
/// original image (to float rounding). An image smaller than a tile gets one tile, padded by
/// edge repetition.
public struct TileGrid: Equatable, Sendable {
    /// Where one tile's top-left corner lies in the image.
    public struct Origin: Equatable, Sendable {
        /// Column of the tile's left edge.
        public let x: Int
        /// Row of the tile's top edge.
        public let y: Int
    }

    /// Image width.
    public let width: Int
    /// Image height.
    public let height: Int
    /// Tile width in pixels.
    public let tileWidth: Int
    /// Tile height in pixels.
    public let tileHeight: Int
    /// Minimum overlap between neighbouring tiles.
    public let overlap: Int
    /// Tile origins, row by row.
    public let origins: [Origin]

    /// Plans square tiles; `overlap` must be in 0..<tileSize.
    public init(width: Int, height: Int, tileSize: Int, overlap: Int) throws {
        try self.init(width: width, height: height, tileWidth: tileSize, tileHeight: tileSize, overlap: overlap)
    }

    /// Plans tiles; `overlap` must be smaller than the side of tiles that do not cover the image
    /// alone. With `alignment` > 1 the image
    /// and tile sides must be multiples of it (or the image smaller than the tile).
    public init(width: Int, height: Int, tileWidth: Int, tileHeight: Int, overlap: Int, alignment: Int = 1) throws {
        guard width > 0, height > 0, tileWidth > 0, tileHeight > 0, alignment > 0 else {
            throw ImagingError(.invalidArgument, path: nil, "image and tile sizes must be positive")
        }
        guard overlap >= 0 else { throw ImagingError(.invalidArgument, path: nil, "overlap must be ≥ 0, got \(overlap)") }
        for (length, tile) in [(width, tileWidth), (height, tileHeight)] where length > tile {
            guard overlap < tile else {
                throw ImagingError(.invalidArgument, path: nil, "overlap must be in 0..<\(tile), got \(overlap)")
            }
            guard length % alignment == 0, tile % alignment == 0, tile - overlap > alignment else {
                throw ImagingError(.invalidArgument, path: nil,
                                   "tiles of \(tile) over \(length) pixels cannot keep origins on multiples of \(alignment)")
            }
        }
        self.width = width
        self.height = height
        self.tileWidth = tileWidth
        self.tileHeight = tileHeight
        self.overlap = overlap
        let xs = TileGrid.positions(length: width, tile: tileWidth, overlap: overlap, alignment: alignment)
        let ys = TileGrid.positions(length: height, tile: tileHeight, overlap: overlap, alignment: alignment)
        origins = ys.flatMap { y in xs.map { x in Origin(x: x, y: y) } }
    }

    /// The number of tiles.
    public var count: Int { origins.count }

    /// Evenly spread origins; rounding each to a multiple of `alignment` may shift it by up to
    /// `alignment − 1`, so the stride is planned that much shorter.
    static func positions(length: Int, tile: Int, overlap: Int, alignment: Int = 1) -> [Int] {
        if length <= tile { return [0] }
        let stride = tile - overlap - (alignment - 1)
        let n = (length - tile + stride - 1) / stride + 1
        return (0..<n).map { i in
            let exact = Double(i) * Double(length - tile) / Double(n - 1)
            return alignment == 1 ? Int(exact.rounded()) : Int((exact / Double(alignment)).rounded()) * alignment
        }
    }

    /// The 1-D blending window: w(i) = ½ − ½·cos(2π(i + ½)/size), positive everywhere.
    public static func window(size: Int) -> [Double] {
        (0..<size).map { i in 0.5 - 0.5 * cos(2 * Double.pi * (Double(i) + 0.5) / Double(size)) }
    }

    /// `image` (which must be `width` × `height`) padded by edge repetition to at least one
    /// tile in each direction: the source ``copyTile(_:from:to:)`` reads.
    public func source(_ image: PlanarImage) throws -> PlanarImage {
        guard image.width == width, image.height == height else {
            throw ImagingError(.invalidArgument, path: nil,
                               "image is \(image.width)x\(image.height), grid is for \(width)x\(height)")
        }
        guard width < tileWidth || height < tileHeight else { return image }
        return try image.padded(left: 0, top: 0, right: max(0, tileWidth - width), bottom: max(0, tileHeight - height),
                                mode: .edge)
    }

    /// Copies tile `index` (CHW, `tileHeight` × `tileWidth`) of `source` (made by ``source(_:)``) to
    /// `destination`.
    public func copyTile(_ index: Int, from source: PlanarImage, to destination: UnsafeMutablePointer<Float>) {
        let origin = origins[index]
        source.pixels.withUnsafeBufferPointer { src in
            var d = destination
            for c in 0..<source.channels {
                for row in 0..<tileHeight {
                    d.update(from: src.baseAddress! + (c * source.height + origin.y + row) * source.width + origin.x,
                             count: tileWidth)
                    d += tileWidth
                }
            }
        }
    }

    /// Blends tiles into the image one at a time, so that an image's tiles are never all held
    /// at once: window-weighted sums and the summed weights, divided out at the end.
    public struct Blender: Sendable {
        /// The grid the tiles come from.
        public let grid: TileGrid
        /// Channels of each tile.
        public let channels: Int
        private let windowX: [Float], windowY: [Float]
        private var sums: [Float]
        private var weights: [Float]

        /// An empty blend of `channels`-channel tiles of `grid`.
        public init(grid: TileGrid, channels: Int) {
            self.grid = grid
            self.channels = channels
            windowX = TileGrid.window(size: grid.tileWidth).map(Float.init)
            windowY = TileGrid.window(size: grid.tileHeight).map(Float.init)
            sums = [Float](repeating: 0, count: channels * grid.width * grid.height)
            weights = [Float](repeating: 0, count: grid.width * grid.height)
        }

        /// Adds tile `index` (CHW, `tileHeight` × `tileWidth`).
        public mutating func add(_ index: Int, tile: UnsafePointer<Float>) {
            let width = grid.width, n = grid.width * grid.height, channels = channels
            let tileWidth = grid.tileWidth, tileHeight = grid.tileHeight
            let origin = grid.origins[index]
            let rows = min(tileHeight, grid.height - origin.y), columns = min(tileWidth, width - origin.x)
            let windowX = windowX, windowY = windowY
            weights.withUnsafeMutableBufferPointer { weights in
                sums.withUnsafeMutableBufferPointer { sums in
                    for ty in 0..<rows {
                        let row = (origin.y + ty) * width + origin.x
                        for tx in 0..<columns {
                            let w = windowY[ty] * windowX[tx]
                            weights[row + tx] += w
                            for c in 0..<channels {
                                sums[c * n + row + tx] += w * tile[(c * tileHeight + ty) * tileWidth + tx]
                            }
                        }
                    }
                }
            }
        }

        /// The blended image (every tile must have been added).
        public func image() -> PlanarImage {
            let n = grid.width * grid.height
            var out = sums
            for c in 0..<channels {
                for i in 0..<n { out[c * n + i] /= weights[i] }
            }
            return PlanarImage(unchecked: grid.width, grid.height, channels, out)
        }
    }
}
