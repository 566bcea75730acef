import ArgumentParser
import Foundation
import IGN

struct AverageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "average",
        abstract: "Average the weights of models of one architecture (snapshots of a training run) into one model.",
        discussion: """
            Learned parameters and projection running statistics are averaged; generation sets are left out. \
            Recalibrate the result (`ign calibrate --for projection`, then `--for generation`) before using it.
            """)

    @Argument(help: "Models to average: bundled names or .safetensors files (at least 2).") var models: [String]
    @Option(name: .output, help: "Where to write the averaged model.") var out: String

    func validate() throws {
        guard models.count >= 2 else { throw ValidationError("give at least 2 models to average, got \(models.count)") }
        for model in models { try ModelOptions.check(model) }
    }

    func run() throws {
        let loaded = try models.map { (model: try BundledModels.load($0), name: ($0 as NSString).lastPathComponent) }
        try IGNModel.average(loaded).save(to: try outputFile(out))
    }
}
