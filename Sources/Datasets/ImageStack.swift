import Basics
import Engine
import Foundation
import Imaging

/// Same-sized images gathered into one NCHW float32 array, as `ign train` reads from `.npy`.
public struct ImageStack: Sendable {
    /// Channels of every image.
    public let channels: Int
    /// Height of every image.
    public let height: Int
    /// Width of every image.
    public let width: Int
    /// The images' planar pixels, one after another.
    public private(set) var values: [Float] = []

    /// An empty stack for images of this shape.
    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    /// The number of images.
    public var count: Int { values.count / (channels * height * width) }

    /// The array's shape, [N, C, H, W].
    public var shape: [Int] { [count, channels, height, width] }

    /// Adds an image, which must have the stack's shape.
    public mutating func append(_ image: PlanarImage) throws {
        guard image.channels == channels, image.height == height, image.width == width else {
            throw DatasetError(.invalidArgument, path: nil,
                               "image is \(image.channels)×\(image.height)×\(image.width), the set holds \(channels)×\(height)×\(width)")
        }
        values.append(contentsOf: image.pixels)
    }

    /// Adds one image given as planar values (C×H×W of them).
    public mutating func append(planar sample: ArraySlice<Float>) throws {
        guard sample.count == channels * height * width else {
            throw DatasetError(.invalidArgument, path: nil,
                               "\(sample.count) values do not make one \(channels)×\(height)×\(width) image")
        }
        values.append(contentsOf: sample)
    }

    /// Image `i` as a ``PlanarImage``.
    public func image(_ i: Int) throws -> PlanarImage {
        let n = channels * height * width
        return try PlanarImage(width: width, height: height, channels: channels,
                               pixels: Array(values[(i * n)..<((i + 1) * n)]))
    }

    /// Writes the stack as an `.npy` file, atomically.
    public func write(to url: URL) throws -> WrittenArray {
        try NPY.write(values, shape: shape, to: url)
        return WrittenArray(url: url, shape: shape)
    }

    /// Writes a contact sheet of the first `limit` images (8 per row, 2× enlarged), atomically.
    public func writePreview(to url: URL, limit: Int = 64) throws {
        let images = try (0..<min(limit, count)).map { try image($0) }
        let sheet = try ContactSheet(columns: 8, padding: 2, scale: 2, background: 1).compose(images)
        try ImageWriter().write(sheet, to: url)
    }
}

/// An array file a build wrote.
public struct WrittenArray: Sendable, Equatable {
    /// Where it is.
    public let url: URL
    /// Its shape, [N, C, H, W].
    public let shape: [Int]
}

/// What a dataset build wrote and what it had to leave out.
public struct BuildReport: Sendable {
    /// The arrays, in the order train, validation, test.
    public var arrays: [WrittenArray] = []
    /// Other files: previews and source lists.
    public var files: [URL] = []
    /// Inputs that were skipped, with the reason (one line each).
    public var warnings: [String] = []
}

/// Writes a text file (a source or split listing) atomically.
func writeListing(_ text: String, to url: URL) throws {
    do { try AtomicFile.write(Data(text.utf8), to: url) } catch let error as AtomicWriteError {
        throw DatasetError(.writeFailed, path: error.path, error.message)
    }
}

/// Creates the output folder if needed.
func makeDirectory(_ url: URL) throws {
    do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
        throw DatasetError(.writeFailed, path: url.path, "cannot create the output folder: \(error.localizedDescription)")
    }
}
