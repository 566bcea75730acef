import Basics
import Engine
import Foundation
import IGN
import Imaging

/// What `ign eval` measures and how.
public struct EvaluationOptions: Sendable {
    /// Test samples used (all when nil).
    public var limit: Int?
    public var seed: UInt64 = 0
    /// Noise levels for denoising, in units of the 0–1 pixel range.
    public var noiseSigmas: [Double] = [0.1, 0.2, 0.4]
    /// Validation samples used to tune the blur (taken from the validation set).
    public var validationLimit = 500
    /// The BatchNorm statistics f runs with (``StatisticsSet/batch``: each batch's own).
    public var statistics: StatisticsSet = .projection
    public var batch = 256
    public init() {}
}

/// Mean and median of a per-sample figure.
public struct MeanAndMedian: Codable, Sendable {
    public var mean: Double
    public var median: Double
    public init(_ values: [Double]) {
        mean = values.reduce(0, +) / Double(max(values.count, 1))
        let sorted = values.sorted()
        median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}

/// The figures `ign eval` reports for one model on one held-out split.
public struct EvaluationReport: Codable, Sendable {
    public struct Drift: Codable, Sendable {
        /// "test" or "noise".
        public var source: String
        /// After k applications: RMS(f^{k+1} − f^k) and ‖f^{k+1} − f^k‖ / ‖f^k‖.
        public var applications: Int
        public var rms: MeanAndMedian
        public var relative: MeanAndMedian
    }
    public struct Denoising: Codable, Sendable {
        public var sigma: Double
        public var noisyPSNR: Double
        public var modelPSNR: Double
        /// The gaussian blur with the σ of ``ClassicalDenoisers/blurSigmas`` best on the tuning split.
        public var blurPSNR: Double
        public var blurSigma: Double
        public var median3PSNR: Double
        public var median5PSNR: Double
        /// The best of the classical filters.
        public var bestClassicalPSNR: Double { max(blurPSNR, median3PSNR, median5PSNR) }
    }
    public struct Colorization: Codable, Sendable {
        public var grayDeltaE: Double, modelDeltaE: Double, combinedDeltaE: Double
        public var grayPSNR: Double, modelPSNR: Double, combinedPSNR: Double
    }
    public struct Sketch: Codable, Sendable {
        public var sketchPSNR: Double, sketchSSIM: Double
        public var modelPSNR: Double, modelSSIM: Double
    }

    public var model: String
    public var arch: String
    public var channels: Int
    public var samples: Int
    /// "eval" (running statistics) or "train" (batch statistics).
    public var mode: String
    /// The set of BatchNorm statistics used (``StatisticsSet``, after any fallback).
    public var statistics: String
    public var reconstructionPSNR: Double
    public var drift: [Drift]
    public var denoising: [Denoising]
    /// Where the blur baseline's σ was chosen: "validation", or "test" when no validation data was given.
    public var blurTunedOn: String
    public var colorization: Colorization?
    public var sketch: Sketch
    /// Samples from noise, measured in a classifier's features (models a bundled classifier fits).
    public var sampleQuality: SampleQuality.Report?
}

/// Measures a model on held-out data: reconstruction, drift, denoising against libvips baselines,
/// colorization (colour models) and sketch→image.
public struct Evaluator {
    public let model: IGNModel
    public let options: EvaluationOptions
    private let projector: Projector

    /// An evaluator whose passes run on `threads` threads.
    public init(model: IGNModel, options: EvaluationOptions = EvaluationOptions(), threads: Int) {
        self.model = model
        self.options = options
        projector = Projector(model: model, threads: threads, statistics: options.statistics)
    }

    public func evaluate(test fullTest: Dataset, validation: Dataset?, name: String) throws -> EvaluationReport {
        let test = options.limit.map { fullTest.prefix($0) } ?? fullTest
        guard test.shape == model.sampleShape else {
            throw ModelError("test samples are \(test.shape), the model takes \(model.sampleShape)")
        }
        let clean = images(test)
        let steps = apply(test.values, count: test.count, steps: 4)
        let reconstruction = try mean(zip(clean, images(steps[0], count: test.count)).map { try Metrics.psnr($1, $0) })

        var drift = Self.drift(steps, count: test.count, shape: test.shape, source: "test")
        let noiseCount = min(test.count, 1000)
        let z = try model.drawNoise(count: noiseCount, seed: options.seed &+ 1)
        drift += Self.drift(apply(z, count: noiseCount, steps: 4), count: noiseCount, shape: test.shape, source: "noise")

        let tuning = images((validation ?? test).prefix(options.validationLimit))
        var denoising: [EvaluationReport.Denoising] = []
        for sigma in options.noiseSigmas {
            let noisy = addNoise(clean, sigma: sigma, seed: options.seed &+ UInt64(sigma * 1000))
            let projected = images(apply(flatten(noisy), count: noisy.count, steps: 1)[0], count: noisy.count)
            let tuningNoisy = addNoise(tuning, sigma: sigma, seed: options.seed &+ 7 &+ UInt64(sigma * 1000))
            let blurSigma = try ClassicalDenoisers.bestBlur(tuningNoisy, clean: tuning).sigma
            denoising.append(.init(
                sigma: sigma,
                noisyPSNR: try mean(zip(noisy, clean).map { try Metrics.psnr($0, $1) }),
                modelPSNR: try mean(zip(projected, clean).map { try Metrics.psnr($0, $1) }),
                blurPSNR: try ClassicalDenoisers.meanPSNR(of: .blur(sigma: blurSigma), noisy, clean: clean),
                blurSigma: blurSigma,
                median3PSNR: try ClassicalDenoisers.meanPSNR(of: .median(size: 3), noisy, clean: clean),
                median5PSNR: try ClassicalDenoisers.meanPSNR(of: .median(size: 5), noisy, clean: clean)))
        }

        var colorization: EvaluationReport.Colorization?
        if model.channels == 3 {
            let gray = try clean.map { try Corruption.grayscale.apply(to: $0, seed: 0) }
            let projected = images(apply(flatten(gray), count: gray.count, steps: 1)[0], count: gray.count)
            let combined = try zip(gray, projected).map { try Imaging.Colorization.combine(lightnessOf: $0, chromaOf: $1) }
            colorization = .init(
                grayDeltaE: try mean(zip(gray, clean).map { try Metrics.meanDeltaE76($0, $1) }),
                modelDeltaE: try mean(zip(projected, clean).map { try Metrics.meanDeltaE76($0, $1) }),
                combinedDeltaE: try mean(zip(combined, clean).map { try Metrics.meanDeltaE76($0, $1) }),
                grayPSNR: try mean(zip(gray, clean).map { try Metrics.psnr($0, $1) }),
                modelPSNR: try mean(zip(projected, clean).map { try Metrics.psnr($0, $1) }),
                combinedPSNR: try mean(zip(combined, clean).map { try Metrics.psnr($0, $1) }))
        }

        // A sketch is dark lines on white; on data drawn light on dark (Fashion-MNIST) it is shown
        // inverted, light lines on black, the polarity of the data.
        let darkData = test.values.reduce(0, +) / Float(test.values.count) < 0
        let sketches = try clean.map { image -> PlanarImage in
            var sketch = try Corruption.sketch(.sobel).apply(to: image, seed: 0)
            if darkData { sketch.pixels = sketch.pixels.map { -$0 } }
            return sketch
        }
        let fromSketch = images(apply(flatten(sketches), count: sketches.count, steps: 1)[0], count: sketches.count)
        let sketch = EvaluationReport.Sketch(
            sketchPSNR: try mean(zip(sketches, clean).map { try Metrics.psnr($0, $1) }),
            sketchSSIM: try mean(zip(sketches, clean).map { try Metrics.ssim($0, $1) }),
            modelPSNR: try mean(zip(fromSketch, clean).map { try Metrics.psnr($0, $1) }),
            modelSSIM: try mean(zip(fromSketch, clean).map { try Metrics.ssim($0, $1) }))

        return EvaluationReport(model: name, arch: model.architecture.name, channels: model.channels, samples: test.count,
                                mode: projector.statistics == .batch ? "train" : "eval", statistics: projector.statistics.rawValue,
                                reconstructionPSNR: reconstruction,
                                drift: drift, denoising: denoising, blurTunedOn: validation == nil ? "test" : "validation",
                                colorization: colorization, sketch: sketch, sampleQuality: nil)
    }

    // MARK: Helpers

    /// f applied `steps` times in batches of `options.batch`; result[k-1] = f^k(x), NCHW.
    private func apply(_ values: [Float], count: Int, steps: Int) -> [[Float]] {
        projector.apply(values, count: count, steps: steps, batchSize: options.batch)
    }

    /// Per-sample RMS and relative size of f^{k+1} − f^k for k = 1, 2, 3.
    static func drift(_ steps: [[Float]], count: Int, shape: SampleShape, source: String) -> [EvaluationReport.Drift] {
        let d = shape.count
        return (1..<steps.count).map { k in
            var rms: [Double] = [], relative: [Double] = []
            for i in 0..<count {
                let sample = (i * d)..<((i + 1) * d)
                let drift = Metrics.rms(steps[k][sample], steps[k - 1][sample]), norm = Metrics.rms(steps[k - 1][sample])
                rms.append(drift)
                relative.append(drift / max(norm, 1e-12))
            }
            return .init(source: source, applications: k, rms: MeanAndMedian(rms), relative: MeanAndMedian(relative))
        }
    }

    private func images(_ data: Dataset) -> [PlanarImage] { images(data.values, count: data.count) }

    private func images(_ values: [Float], count: Int) -> [PlanarImage] {
        let s = model.sampleShape
        return (0..<count).map {
            try! PlanarImage(width: s.width, height: s.height, channels: s.channels,
                             pixels: Array(values[($0 * s.count)..<(($0 + 1) * s.count)]))
        }
    }

    private func flatten(_ images: [PlanarImage]) -> [Float] { images.flatMap(\.pixels) }

    /// The images with ``PixelNoise`` of `sigma` (what `noise:σ` adds in a pipeline), one stream for all.
    private func addNoise(_ images: [PlanarImage], sigma: Double, seed: UInt64) -> [PlanarImage] {
        var rng = RandomSource(seed: seed)
        return images.map { image in
            var noisy = image
            PixelNoise.add(to: &noisy.pixels, sigma: sigma, rng: &rng)
            return noisy
        }
    }

    private func mean(_ values: [Double]) -> Double {
        values.reduce(0, +) / Double(max(values.count, 1))
    }
}

extension EvaluationReport {
    /// The report as an aligned text table.
    public var table: String {
        var lines: [String] = []
        func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
        lines.append("model \(model) (\(arch), C=\(channels)), \(samples) test samples, \(mode) mode (\(statistics) statistics)")
        lines.append("reconstruction PSNR f(x) vs x: \(f(reconstructionPSNR)) dB")
        lines.append("")
        lines.append("drift        k   RMS mean  RMS median  relative mean  relative median")
        for d in drift {
            lines.append("\(d.source.padding(toLength: 10, withPad: " ", startingAt: 0))  \(d.applications)   \(f(d.rms.mean, 4))    \(f(d.rms.median, 4))      \(f(100 * d.relative.mean))%          \(f(100 * d.relative.median))%")
        }
        lines.append("")
        lines.append("denoising σ   noisy   f(noisy)   blur (σ* on \(blurTunedOn))  median 3×3  median 5×5   gain over best classical")
        for d in denoising {
            lines.append("      \(f(d.sigma))   \(f(d.noisyPSNR))   \(f(d.modelPSNR))      \(f(d.blurPSNR)) (\(f(d.blurSigma)))"
                         + "     \(f(d.median3PSNR))       \(f(d.median5PSNR))        \(f(d.modelPSNR - d.bestClassicalPSNR)) dB")
        }
        if let c = colorization {
            lines.append("")
            lines.append("colorization      ΔE76    PSNR")
            lines.append("gray input        \(f(c.grayDeltaE))   \(f(c.grayPSNR))")
            lines.append("f(gray)           \(f(c.modelDeltaE))   \(f(c.modelPSNR))")
            lines.append("L(in) + ab(f)     \(f(c.combinedDeltaE))   \(f(c.combinedPSNR))")
        }
        lines.append("")
        lines.append("sketch→image: sketch PSNR \(f(sketch.sketchPSNR)) SSIM \(f(sketch.sketchSSIM, 3)); f(sketch) PSNR \(f(sketch.modelPSNR)) SSIM \(f(sketch.modelSSIM, 3))")
        if let sampleQuality {
            lines.append("")
            lines.append(sampleQuality.table)
        }
        return lines.joined(separator: "\n")
    }
}
