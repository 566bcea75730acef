import Foundation

/// Lays equally sized images out in a grid on a background, for looking at many small
/// images (e.g. 28×28 Fashion-MNIST samples) at once.
public struct ContactSheet: Sendable {
    /// Images per row.
    public var columns: Int
    /// Rows; nil means as many as the images need.
    public var rows: Int?
    /// Background pixels between and around the cells (after upscaling).
    public var padding: Int
    /// Integer nearest-neighbour enlargement applied to every image.
    public var scale: Int
    /// Background value in [-1, 1] (1 = white).
    public var background: Float

    /// A layout; see the properties.
    public init(columns: Int, rows: Int? = nil, padding: Int = 2, scale: Int = 1, background: Float = 1) {
        self.columns = columns
        self.rows = rows
        self.padding = padding
        self.scale = scale
        self.background = background
    }

    /// Composes the images row by row. All must have the same size; if any is colour, grey
    /// ones are replicated to 3 channels. Unused cells stay background.
    public func compose(_ images: [PlanarImage]) throws -> PlanarImage {
        guard columns >= 1, padding >= 0, scale >= 1 else {
            throw ImagingError(.invalidArgument, path: nil, "columns and scale must be ≥ 1, padding ≥ 0")
        }
        guard let first = images.first else {
            throw ImagingError(.invalidArgument, path: nil, "no images for the contact sheet")
        }
        for image in images where image.width != first.width || image.height != first.height {
            throw ImagingError(.invalidArgument, path: nil,
                               "images differ in size: \(image.width)x\(image.height) vs \(first.width)x\(first.height)")
        }
        let rowCount = rows ?? (images.count + columns - 1) / columns
        guard rowCount >= 1, rowCount * columns >= images.count else {
            throw ImagingError(.invalidArgument, path: nil,
                               "\(images.count) images do not fit \(rowCount)x\(columns) cells")
        }
        let channels = images.contains { $0.channels == 3 } ? 3 : 1
        let cellW = first.width * scale, cellH = first.height * scale
        let width = columns * cellW + (columns + 1) * padding
        let height = rowCount * cellH + (rowCount + 1) * padding
        var sheet = try PlanarImage(width: width, height: height, channels: channels, fill: background)
        for (index, image) in images.enumerated() {
            let cell = try image.converted(toChannels: channels).upscaled(by: scale)
            let x0 = padding + (index % columns) * (cellW + padding)
            let y0 = padding + (index / columns) * (cellH + padding)
            for c in 0..<channels {
                for y in 0..<cellH {
                    let s = (c * cellH + y) * cellW, d = (c * height + y0 + y) * width + x0
                    for x in 0..<cellW { sheet.pixels[d + x] = cell.pixels[s + x] }
                }
            }
        }
        return sheet
    }
}
