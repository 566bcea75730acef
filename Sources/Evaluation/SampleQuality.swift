import Basics
import Engine
import Foundation
import IGN
import Imaging

/// How good a model's samples f(z), f(f(z)), … are: the Fréchet distance of their features
/// (``SampleFeatures``: a ``Classifier``'s penultimate layer, or ``ImageStatistics``) to the test
/// split's, for each set of BatchNorm statistics, with anchors to read the figures by and, with
/// a classifier, the classes the samples fall into.
public struct SampleQuality {
    /// One set of statistics: a Fréchet distance and a class histogram per application of f.
    public struct Row: Codable, Sendable {
        public var statistics: String
        /// `frechet[k]` is the distance of f^(k+1)(z).
        public var frechet: [Double]
        /// `classShares[k][c]`: share of f^(k+1)(z) classified as class `c` (empty without a classifier).
        public var classShares: [[Double]]
    }
    /// Distances to the test features of things whose quality is known.
    public struct Anchors: Codable, Sendable {
        /// As many training images as samples (nil without training data): the floor.
        public var trainVsTest: Double?
        /// The test images blurred (gaussian, σ ``blurSigma`` pixels).
        public var blurredTest: Double
        public var blurSigma: Double
        /// The model's noise z itself, clipped to [-1, 1].
        public var noise: Double
    }
    public struct Report: Codable, Sendable {
        public var samples: Int
        public var seed: UInt64
        /// Samples per pass with batch statistics (whose statistics normalise them).
        public var batchStatisticsBatch: Int
        /// The feature space (``SampleFeatures/name``).
        public var features: String
        public var rows: [Row]
        public var anchors: Anchors
        /// Share of each class among the test images (empty without a classifier).
        public var testClassShares: [Double]
    }

    public let model: IGNModel
    public let space: any SampleFeatures
    public var count = 10_000
    public var steps = 3
    public var seed: UInt64 = 1
    /// Batch size of the `.batch` row (the statistics depend on it; eval-mode rows do not).
    public var batchStatisticsBatch = 64
    public var blurSigma = 1.0
    public let threads: Int

    public init(model: IGNModel, features space: any SampleFeatures, threads: Int) {
        self.model = model; self.space = space; self.threads = threads
    }

    /// The sets measured: the generation set (when the model has one), the projection set, batch statistics.
    public var sets: [StatisticsSet] {
        (model.generationStatistics.isEmpty ? [] : [.generation]) + [.projection, .batch]
    }

    /// Measures the samples against `test` (and `train` for the floor anchor).
    public func evaluate(test: Dataset, train: Dataset?) throws -> Report {
        guard test.shape == model.sampleShape, test.shape == space.sampleShape else {
            throw ModelError("sample quality: test samples are \(test.shape), the model takes \(model.sampleShape) and the feature space \(space.sampleShape)")
        }
        let testRun = space.features(test.values, count: test.count, threads: threads)
        let reference = FeatureGaussian(features: testRun.features, dimension: space.dimension)
        func distance(_ images: [Float]) -> Double {
            let n = images.count / test.shape.count
            return FeatureGaussian(features: space.features(images, count: n, threads: threads).features, dimension: space.dimension)
                .frechetDistance(to: reference)
        }
        let z = try model.drawNoise(count: count, seed: seed)
        var rows: [Row] = []
        for set in sets {
            let projector = Projector(model: model, threads: threads, statistics: set)
            let outputs = projector.apply(z, count: count, steps: steps, batchSize: set == .batch ? batchStatisticsBatch : 256)
            var row = Row(statistics: set.rawValue, frechet: [], classShares: [])
            for images in outputs {
                let run = space.features(images, count: count, threads: threads)
                row.frechet.append(FeatureGaussian(features: run.features, dimension: space.dimension).frechetDistance(to: reference))
                if space.classCount > 0 { row.classShares.append(shares(run.classes)) }
            }
            rows.append(row)
        }
        let blurred = try (0..<test.count).flatMap { i -> [Float] in
            let s = test.shape
            let image = try PlanarImage(width: s.width, height: s.height, channels: s.channels,
                                        pixels: Array(test.values[(i * s.count)..<((i + 1) * s.count)]))
            return try image.blurred(sigma: blurSigma).pixels
        }
        let anchors = Anchors(trainVsTest: train.map { distance($0.prefix(count).values) },
                              blurredTest: distance(blurred), blurSigma: blurSigma,
                              noise: distance(z.map { max(-1, min(1, $0)) }))
        return Report(samples: count, seed: seed, batchStatisticsBatch: batchStatisticsBatch,
                      features: space.name, rows: rows, anchors: anchors,
                      testClassShares: space.classCount > 0 ? shares(testRun.classes) : [])
    }

    private func shares(_ classes: [Int]) -> [Double] {
        var counts = [Double](repeating: 0, count: space.classCount)
        for c in classes { counts[c] += 1 }
        return counts.map { $0 / Double(max(classes.count, 1)) }
    }
}

extension SampleQuality.Report {
    /// The report as aligned text.
    public var table: String {
        func f(_ x: Double) -> String { String(format: "%7.2f", x) }
        func percent(_ x: Double) -> String { String(format: "%4.1f", 100 * x) }
        func padded(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        let steps = rows.first?.frechet.count ?? 0
        let classified = !testClassShares.isEmpty
        var lines = ["sample quality: Fréchet distance to the test split in the features of \(features), \(samples) samples (seed \(seed))"]
        lines.append("statistics   " + (1...max(steps, 1)).map { padded("f^\($0)(z)", 7) }.joined(separator: " ")
                     + (classified ? "   largest class share f(z) … f^\(steps)(z)" : ""))
        for row in rows {
            lines.append(row.statistics.padding(toLength: 12, withPad: " ", startingAt: 0) + " " + row.frechet.map(f).joined(separator: " ")
                         + (classified ? "   " + row.classShares.map { percent($0.max() ?? 0) + "%" }.joined(separator: " ") : ""))
        }
        lines.append("anchors: train vs test " + (anchors.trainVsTest.map(f) ?? "   (no --train)")
                     + ", blurred test (σ \(anchors.blurSigma)) \(f(anchors.blurredTest)), noise z \(f(anchors.noise))"
                     + " (batch statistics: batches of \(batchStatisticsBatch))")
        guard classified else { return lines.joined(separator: "\n") }
        lines.append("class shares of f(z), %  (class:  " + (0..<testClassShares.count).map { String(format: "%4d", $0) }.joined(separator: " ") + ")")
        lines.append("  test split                   " + testClassShares.map(percent).joined(separator: " "))
        for row in rows {
            lines.append("  " + row.statistics.padding(toLength: 29, withPad: " ", startingAt: 0) + (row.classShares.first ?? []).map(percent).joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}
