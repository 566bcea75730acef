import ArgumentParser
import Engine
import Foundation
import IGN

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Re-estimate a model's BatchNorm running statistics: the projection set on data, or the generation set on f's chain from noise.",
        discussion: """
            --for projection (default) re-estimates the statistics under PyTorch's names on --data (what ign run, apply, drift and eval use). \
            --for generation estimates the set stored under the prefix `generation.` (what ign sample and interpolate use) from training-mode \
            passes over z, f(z), … on the model's own noise, one set per application of f (--chain sets; \
            sampling more steps uses the last for the rest); the projection set is kept.
            """)

    /// Which set a calibration estimates.
    enum Target: String, ExpressibleByArgument { case projection, generation }

    @OptionGroup var model: ModelOptions
    @Option(name: .customLong("for"), help: "The set to estimate.") var target: Target = .projection
    @Option(help: "Data to calibrate on (IDX or .npy), e.g. the training images (--for projection).") var data: String?
    @Option(help: "Generation sets, one per application of f, estimated on z, f(z), f(f(z)), … (--for generation).") var chain = 1
    @Option(help: "Seed of the noise or of the images drawn.") var seed: UInt64 = 0
    @Option(help: "Training-mode passes.") var batches = 200
    @Option(help: "Samples per pass.") var batch = 128
    @Option(name: .customLong("noisy-fraction"), help: "Share of samples given Gaussian noise (models that will denoise).") var noisyFraction = 0.0
    @Option(name: .customLong("source"), parsing: .singleValue,
            help: "Draw the calibration samples from a mix instead, WEIGHT:SPEC, repeatable (as ign train's: model, grayscale, sketch, noise:0.2, chains): the inputs of the jobs the model is for (--for projection).")
    var sources: [String] = []
    @Option(name: .customLong("noise-sigmas"), help: "Comma-separated noise σs (0…1 pixel scale), one drawn per noisy sample.") var noiseSigmas = "0.1,0.2"
    @Flag(name: .customLong("half"), help: "Write F16 weights (half the size, for shipping).") var half = false
    @Option(name: .output, help: "Where to write the calibrated model.") var out: String
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        switch target {
        case .projection:
            guard let data else { throw ValidationError("--for projection needs --data") }
            try Check.exists("--data", data)
            if !sources.isEmpty, noisyFraction > 0 { throw ValidationError("--source and --noisy-fraction cannot be combined") }
            for source in sources { _ = try parseSource(source) }
        case .generation:
            guard data == nil, noisyFraction == 0, sources.isEmpty else {
                throw ValidationError("--for generation calibrates on the model's noise: no --data, --noisy-fraction or --source")
            }
        }
        try Check.count("--chain", chain, in: Check.steps)
        try Check.count("--batches", batches, in: 1...1_000_000)
        try Check.count("--batch", batch, in: Check.trainingBatch)
        try Check.number("--noisy-fraction", noisyFraction, in: 0...1)
        guard !sigmas.isEmpty, sigmas.count == noiseSigmas.split(separator: ",").count,
              sigmas.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw ValidationError("--noise-sigmas must be positive numbers separated by commas, got \"\(noiseSigmas)\"")
        }
    }

    private var sigmas: [Float] {
        noiseSigmas.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
    }

    func run() throws {
        let model = try self.model.load()
        guard model.network.hasBatchNorm else {
            throw CommandError("\(self.model.nameOrPath): \(model.architecture.name) has no BatchNorm layers: there is nothing to calibrate")
        }
        switch target {
        case .projection:
            try model.recalibrateBatchNorm(on: try Dataset.load(URL(fileURLWithPath: data!)), batches: batches, batch: batch,
                                       noise: CalibrationNoise(fraction: noisyFraction, sigmas: sigmas),
                                       sources: sources.isEmpty ? nil : try SourceMix(sources.map(parseSource), corrupter: imageCorrupter),
                                       seed: seed, threads: compute.threads)
        case .generation:
            try model.recalibrateGenerationStatistics(chain: chain, batches: batches, batch: batch, seed: seed, threads: compute.threads)
        }
        try model.save(to: try outputFile(out), halfPrecision: half)
    }
}
