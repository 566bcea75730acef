import Engine
import Foundation

/// Training or test images in memory: NCHW float32 in [-1, 1].
public struct Dataset: Sendable {
    public let shape: SampleShape
    public let count: Int
    public let values: [Float]

    public init(shape: SampleShape, values: [Float]) {
        precondition(values.count % shape.count == 0)
        self.shape = shape; self.values = values; count = values.count / shape.count
    }

    /// The first `n` samples.
    public func prefix(_ n: Int) -> Dataset {
        Dataset(shape: shape, values: Array(values.prefix(min(n, count) * shape.count)))
    }

    /// Loads MNIST-format IDX image files (`.gz` or plain; pixels 0…255 → [-1, 1]) or `.npy`
    /// float32 NCHW arrays already in [-1, 1]; a file without samples is refused.
    public static func load(_ url: URL) throws -> Dataset {
        let dataset = try read(url)
        guard dataset.count > 0, dataset.shape.count > 0 else {
            throw TensorFileError(.mismatch, url.path, "holds no images (\(dataset.count) of \(dataset.shape))")
        }
        return dataset
    }

    private static func read(_ url: URL) throws -> Dataset {
        if url.pathExtension.lowercased() == "npy" {
            let (dims, values) = try NPY.read(url)
            guard dims.count == 4 else {
                throw TensorFileError(.mismatch, url.path, "expected an NCHW array, got shape \(dims)")
            }
            return Dataset(shape: SampleShape(channels: dims[1], height: dims[2], width: dims[3]), values: values)
        }
        return try loadIDX(url)
    }

    /// IDX images, N×H×W or N×H×W×C bytes, as NCHW values in [-1, 1].
    private static func loadIDX(_ url: URL) throws -> Dataset {
        let (dims, bytes) = try IDX.read(url)
        guard dims.count == 3 || dims.count == 4 else {
            throw TensorFileError(.malformed, url.path, "IDX rank \(dims.count): expected images (N×H×W or N×H×W×C)")
        }
        let n = dims[0], h = dims[1], w = dims[2], c = dims.count == 4 ? dims[3] : 1
        var values = [Float](repeating: 0, count: n * c * h * w)
        for i in 0..<n { for y in 0..<h { for x in 0..<w { for ch in 0..<c {
            values[((i * c + ch) * h + y) * w + x] = Float(bytes[((i * h + y) * w + x) * c + ch]) / 127.5 - 1
        } } } }
        return Dataset(shape: SampleShape(channels: c, height: h, width: w), values: values)
    }
}
