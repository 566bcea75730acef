import ArgumentParser
import Engine
import Foundation
import IGN

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Re-estimate a model's BatchNorm running statistics on data (what eval mode normalises with).")

    @OptionGroup var model: ModelOptions
    @Option(help: "Data to calibrate on (IDX or .npy), e.g. the training images.") var data: String
    @Option(help: "Training-mode passes.") var batches = 200
    @Option(help: "Samples per pass.") var batch = 128
    @Option(name: .customLong("noisy-fraction"), help: "Share of samples given Gaussian noise (models that will denoise).") var noisyFraction = 0.0
    @Option(name: .customLong("noise-sigmas"), help: "Comma-separated noise σs (0…1 pixel scale), one drawn per noisy sample.") var noiseSigmas = "0.1,0.2"
    @Flag(name: .customLong("half"), help: "Write F16 weights (half the size, for shipping).") var half = false
    @Option(name: .output, help: "Where to write the calibrated model.") var out: String
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try Check.exists("--data", data)
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
        model.recalibrateBatchNorm(on: try Dataset.load(URL(fileURLWithPath: data)), batches: batches, batch: batch,
                                   noise: CalibrationNoise(fraction: noisyFraction, sigmas: sigmas), threads: compute.threads)
        try model.save(to: try outputFile(out), halfPrecision: half)
    }
}
