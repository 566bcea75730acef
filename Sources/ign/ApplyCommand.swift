import ArgumentParser
import Engine
import Foundation
import IGN

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply", abstract: "Apply f k times to an NCHW float32 .npy array.")

    @OptionGroup var model: ModelOptions
    @Option(help: "Input .npy, NCHW float32 in [-1, 1].") var input: String
    @Option(name: .output, help: "Output .npy: f^k(input).") var output: String
    @Option(help: "Applications of f.") var steps = 1
    @Flag(name: .customLong("train-mode"), help: "Use batch statistics (the whole input is one batch) instead of running statistics.")
    var trainMode = false
    @Option(help: statisticsHelp(default: .projection)) var statistics: StatisticsSet = .projection
    @Option(help: "Samples per batch in eval mode.") var batch = 256
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try Check.exists("--input", input)
        try Check.count("--steps", steps, in: Check.steps)
        try Check.count("--batch", batch, in: Check.batch)
    }

    func run() throws {
        let model = try self.model.load()
        let (shape, values) = try NPY.read(URL(fileURLWithPath: input))
        let sample = model.sampleShape
        guard shape.count == 4, shape[1] == sample.channels, shape[2] == sample.height, shape[3] == sample.width else {
            throw CommandError("\(input): shape \(shape) does not fit the model's N×\(sample.channels)×\(sample.height)×\(sample.width)")
        }
        guard shape[0] > 0 else { throw CommandError("\(input): holds no images (shape \(shape))") }
        let batchStatistics = trainMode || statistics == .batch
        let result = makeProjector(model, statistics: trainMode ? .batch : statistics, threads: compute.threads)
            .apply(values, count: shape[0], steps: steps, batchSize: batchStatistics ? nil : batch)
        try NPY.write(result[steps - 1], shape: shape, to: try outputFile(output))
    }
}
