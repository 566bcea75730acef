import ArgumentParser
import Basics
import Engine
import Evaluation
import Foundation
import IGN

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure a model on held-out data: reconstruction, drift, denoising vs libvips baselines, colorization, sketches.")

    @OptionGroup var model: ModelOptions
    @Option(help: "Held-out test data (IDX or .npy).") var data: String
    @Option(help: "Validation data for tuning the blur baseline (default: the test data).") var val: String?
    @Option(help: "Use only the first N test samples.") var limit: Int?
    @Flag(name: .customLong("train-mode"), help: "Use batch statistics instead of running statistics.") var trainMode = false
    @Option(help: "Also write the report as JSON here.") var json: String?
    @Option(help: "Seed of the synthetic corruptions.") var seed: UInt64 = 0
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try Check.exists("--data", data)
        if let val { try Check.exists("--val", val) }
        if let limit { try Check.count("--limit", limit, in: 1...Int.max) }
    }

    func run() throws {
        let model = try self.model.load()
        let test = try Dataset.load(URL(fileURLWithPath: data))
        let validation = try val.map { try Dataset.load(URL(fileURLWithPath: $0)) }
        var options = EvaluationOptions()
        options.limit = limit; options.trainMode = trainMode; options.seed = seed
        let report = try Evaluator(model: model, options: options, threads: compute.threads)
            .evaluate(test: test, validation: validation, name: (self.model.nameOrPath as NSString).lastPathComponent)
        print(report.table)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(report), to: try outputFile(json))
        }
    }
}
