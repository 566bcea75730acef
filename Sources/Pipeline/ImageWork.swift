import Foundation
import Imaging

/// One image on its way through the pipeline: its pixels corrupted and fitted to the
/// network's input size (one sample, or many tiles), and the network's results as they
/// come back.
///
/// Built on a worker thread, filled by the projection thread, finished on a worker thread;
/// the hand-overs go through locks, so no two threads touch it at once.
final class ImageWork: @unchecked Sendable {
    /// How the image was cut into network samples.
    enum Layout {
        /// No network: the corrupted image is the output.
        case none
        /// One sample: the image (or its centre crop) resized to the model's size.
        case whole(sample: PlanarImage)
        /// Tiles of `source` (the image, edge-padded when smaller than a tile) at `grid.origins`.
        case tiles(grid: TileGrid, source: PlanarImage)
    }

    let path: String
    let names: OutputPlan.Names
    let width: Int
    let height: Int
    let layout: Layout
    /// The corrupted input at the output's resolution.
    let corrupted: PlanarImage
    /// The clean image at the output's resolution, when something compares against it.
    let clean: PlanarImage?
    /// The output's size when it differs from the network's (`size: input` of a whole fit).
    let outputSize: (width: Int, height: Int)?
    /// Samples not yet projected.
    private(set) var remaining: Int

    private var result: [Float] = []
    private var next: [Float] = []
    private var weights: [Float] = []
    private let window: [Float]

    /// Corrupts a decoded (clean) image and cuts it into samples of `modelSize` pixels
    /// square (nil: no network).
    init(path: String, names: OutputPlan.Names, image: PlanarImage, job: Job, modelSize: Int?, seed: UInt64) throws {
        self.path = path
        self.names = names
        width = image.width
        height = image.height
        let wantsClean = !job.corruptions.isEmpty
            && (job.measures.contains(.psnr) || job.measures.contains(.ssim) || job.artifacts.contains(.strip))
        let corrupt: (PlanarImage) throws -> PlanarImage = { try Corruption.apply(job.corruptions, to: $0, seed: seed) }
        guard let size = modelSize else {
            layout = .none
            corrupted = try corrupt(image)
            clean = wantsClean ? image : nil
            outputSize = nil
            remaining = 0
            window = []
            return
        }
        switch job.fit {
        case .tiles:
            // Tiles see the input's own pixels: `corrupt-at` makes no difference here.
            let damaged = try corrupt(image)
            let grid = try TileGrid(width: width, height: height, tileSize: size, overlap: job.overlap)
            let source = width < size || height < size
                ? try damaged.padded(left: 0, top: 0, right: max(0, size - width), bottom: max(0, size - height), mode: .edge)
                : damaged
            layout = .tiles(grid: grid, source: source)
            corrupted = damaged
            clean = wantsClean ? image : nil
            outputSize = nil
            remaining = grid.count
            window = TileGrid.window(size: size).map(Float.init)
        case .resize, .cover:
            var crop = (x: 0, y: 0, width: width, height: height)
            if job.fit == .cover {
                let side = min(width, height)
                crop = ((width - side) / 2, (height - side) / 2, side, side)
            }
            let sample: PlanarImage
            if job.corruptAt == .model {
                // The fitted sample is corrupted; outputs are model-size (`Job.validate`).
                let cleanSample = try image.cropped(x: crop.x, y: crop.y, width: crop.width, height: crop.height)
                    .resized(width: size, height: size)
                sample = try corrupt(cleanSample)
                corrupted = sample
                clean = wantsClean ? cleanSample : nil
                outputSize = nil
            } else {
                let croppedDamaged = try corrupt(image).cropped(x: crop.x, y: crop.y, width: crop.width, height: crop.height)
                let croppedClean = wantsClean ? try image.cropped(x: crop.x, y: crop.y, width: crop.width, height: crop.height) : nil
                sample = try croppedDamaged.resized(width: size, height: size)
                if job.size == .input {
                    corrupted = croppedDamaged
                    clean = croppedClean
                    outputSize = (crop.width, crop.height)
                } else {
                    corrupted = sample
                    clean = try croppedClean?.resized(width: size, height: size)
                    outputSize = nil
                }
            }
            layout = .whole(sample: sample)
            remaining = 1
            window = []
        }
    }

    /// Samples this image gives the network.
    var sampleCount: Int {
        switch layout {
        case .none: return 0
        case .whole: return 1
        case .tiles(let grid, _): return grid.count
        }
    }

    /// Bytes this image holds while in flight (an estimate, for the memory budget).
    var footprint: Int {
        let values = corrupted.pixels.count + (clean?.pixels.count ?? 0)
        switch layout {
        case .none: return 4 * values
        case .whole(let sample): return 4 * (values + 3 * sample.pixels.count)
        case .tiles(_, let source): return 4 * (values + source.pixels.count + 2 * corrupted.pixels.count + width * height)
        }
    }

    /// Copies sample `index` (CHW) to `destination`.
    func copySample(_ index: Int, to destination: UnsafeMutablePointer<Float>) {
        switch layout {
        case .none:
            return
        case .whole(let sample):
            sample.pixels.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: $0.count) }
        case .tiles(let grid, let source):
            let origin = grid.origins[index], size = grid.tileSize
            source.pixels.withUnsafeBufferPointer { src in
                var d = destination
                for c in 0..<source.channels {
                    for row in 0..<size {
                        d.update(from: src.baseAddress! + (c * source.height + origin.y + row) * source.width + origin.x,
                                 count: size)
                        d += size
                    }
                }
            }
        }
    }

    /// Takes the network's output for sample `index`: `output` = f^k(x) and, when drift is
    /// measured, `next` = f^(k+1)(x). Returns true when this was the last sample.
    func accept(_ index: Int, output: UnsafePointer<Float>, next nextOutput: UnsafePointer<Float>?) -> Bool {
        switch layout {
        case .none:
            break
        case .whole(let sample):
            let n = sample.pixels.count
            result = Array(UnsafeBufferPointer(start: output, count: n))
            if let nextOutput { next = Array(UnsafeBufferPointer(start: nextOutput, count: n)) }
        case .tiles(let grid, let source):
            blend(index, grid: grid, channels: source.channels, output: output, next: nextOutput)
        }
        remaining -= 1
        return remaining == 0
    }

    /// Adds a tile into the window-weighted sums: the blend of ``TileGrid/blend(_:)``, done
    /// tile by tile so that an image's tiles are never all held at once.
    private func blend(_ index: Int, grid: TileGrid, channels: Int, output: UnsafePointer<Float>,
                       next nextOutput: UnsafePointer<Float>?) {
        let n = width * height, size = grid.tileSize
        if weights.isEmpty {
            result = [Float](repeating: 0, count: channels * n)
            if nextOutput != nil { next = result }
            weights = [Float](repeating: 0, count: n)
        }
        let origin = grid.origins[index]
        let rows = min(size, height - origin.y), columns = min(size, width - origin.x)
        window.withUnsafeBufferPointer { window in
            weights.withUnsafeMutableBufferPointer { weights in
                result.withUnsafeMutableBufferPointer { result in
                    next.withUnsafeMutableBufferPointer { next in
                        for ty in 0..<rows {
                            let row = (origin.y + ty) * width + origin.x
                            for tx in 0..<columns {
                                let w = window[ty] * window[tx]
                                weights[row + tx] += w
                                for c in 0..<channels {
                                    let t = (c * size + ty) * size + tx
                                    result[c * n + row + tx] += w * output[t]
                                    if let nextOutput { next[c * n + row + tx] += w * nextOutput[t] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The network's input x, output y = f^k(x) and, when measured, f(y), at the network's
    /// resolution (the full image for tiles). Call once, after every sample is back.
    func networkImages() throws -> (input: PlanarImage, output: PlanarImage, next: PlanarImage?) {
        switch layout {
        case .none:
            return (corrupted, corrupted, nil)
        case .whole(let sample):
            let output = try PlanarImage(width: sample.width, height: sample.height, channels: sample.channels, pixels: result)
            let next = next.isEmpty ? nil
                : try PlanarImage(width: sample.width, height: sample.height, channels: sample.channels, pixels: self.next)
            return (sample, output, next)
        case .tiles(_, let source):
            let n = width * height
            for c in 0..<source.channels {
                for i in 0..<n {
                    result[c * n + i] /= weights[i]
                    if !next.isEmpty { next[c * n + i] /= weights[i] }
                }
            }
            let output = try PlanarImage(width: width, height: height, channels: source.channels, pixels: result)
            let next = next.isEmpty ? nil
                : try PlanarImage(width: width, height: height, channels: source.channels, pixels: self.next)
            return (corrupted, output, next)
        }
    }
}
