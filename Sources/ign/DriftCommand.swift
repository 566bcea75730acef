import ArgumentParser
import Foundation
import Imaging
import Pipeline

struct DriftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Measure drift ‖f(f(x)) − f(x)‖ and distance ‖f(x) − x‖ over a folder of images (no image outputs).",
        discussion: "Prints the summary JSON on stdout. With --output, metrics.jsonl and the summaries are kept there (and a rerun resumes).")

    @Argument(help: "Input folder.") var input: String
    @OptionGroup var model: ModelOptions
    @Option(name: .output, help: "Keep metrics.jsonl, errors.jsonl and the summaries in this folder.") var output: String?
    @Option(help: "How images meet the model's size.") var fit: Job.Fit = .cover
    @Option(help: "Applications of f before measuring.") var steps = 1
    @Option(help: "Corruptions applied first (repeatable); adds PSNR/SSIM against the clean image.", transform: corruptionChain)
    var corrupt: [[Corruption]] = []
    @Option(help: "Seed of the corruptions.") var seed: UInt64 = 0
    @OptionGroup var options: PipelineOptions

    func validate() throws { try Check.count("--steps", steps, in: Check.steps) }

    func run() throws {
        let folder = output ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("ign-drift-\(ProcessInfo.processInfo.processIdentifier)").path
        defer { if output == nil { try? FileManager.default.removeItem(atPath: folder) } }
        var job = Job(input: input, output: folder, model: model.nameOrPath)
        job.fit = fit
        job.steps = steps
        job.corruptions = corrupt.flatMap { $0 }
        job.seed = seed
        job.artifacts = []
        job.measures = job.corruptions.isEmpty ? [.drift, .distance] : Job.Measure.defaults
        options.apply(to: &job)
        _ = try runPipeline(job, force: options.force || output == nil, quiet: options.quiet, keepsFolder: output != nil)
    }
}
