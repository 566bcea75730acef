import Foundation
import IGN

/// Converts Fashion-MNIST's IDX files into `fashionH-{train,val,test}.npy` (H = image height):
/// the train file is split into train and a seeded random validation subset, the t10k file
/// becomes the test set unchanged (in file order).
public struct FashionSplitBuilder: Sendable {
    /// Debian's `dataset-fashion-mnist` train images.
    public static let defaultTrainFile = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
    /// Debian's `dataset-fashion-mnist` test images.
    public static let defaultTestFile = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

    /// Images moved from the train file to the validation set.
    public var validationCount = 5_000
    /// Seed of the validation choice.
    public var seed: UInt64 = 0

    /// A builder with the defaults above.
    public init() {}

    /// Reads both IDX files (`.gz` or plain) and writes the three sets and a preview of the
    /// first 64 test images into `directory`.
    public func build(trainFile: URL, testFile: URL, into directory: URL) throws -> BuildReport {
        let trainSource = try Dataset.load(trainFile)
        let testSource = try Dataset.load(testFile)
        guard trainSource.shape == testSource.shape else {
            throw DatasetError(.invalidArgument, path: testFile.path,
                               "images are \(testSource.shape), the train file's are \(trainSource.shape)")
        }
        let split = try SeededSplit(count: trainSource.count, testCount: 0,
                                    validationCount: validationCount, seed: seed)
        let name = "fashion\(trainSource.shape.height)"
        try makeDirectory(directory)
        var report = BuildReport()
        for (part, positions) in [("train", split.train), ("val", split.validation)] where !positions.isEmpty {
            let stack = try gather(trainSource, positions)
            report.arrays.append(try stack.write(to: directory.appendingPathComponent("\(name)-\(part).npy")))
        }
        let test = try gather(testSource, Array(0..<testSource.count))
        report.arrays.append(try test.write(to: directory.appendingPathComponent("\(name)-test.npy")))
        let preview = directory.appendingPathComponent("\(name)-test-preview.png")
        try test.writePreview(to: preview)
        report.files.append(preview)
        return report
    }

    private func gather(_ source: Dataset, _ positions: [Int]) throws -> ImageStack {
        let shape = source.shape
        var stack = ImageStack(channels: shape.channels, height: shape.height, width: shape.width)
        let n = shape.count
        for i in positions { try stack.append(planar: source.values[(i * n)..<((i + 1) * n)]) }
        return stack
    }
}
