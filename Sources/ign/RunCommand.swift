import ArgumentParser
import Foundation
import Imaging
import Pipeline

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a pipeline file: project a folder of images into a folder of outputs and metrics.",
        discussion: """
            Outputs mirror the input tree; metrics.jsonl, errors.jsonl, summary.json and summary.csv \
            go to the output folder and the summary JSON to stdout. A rerun into the same folder \
            resumes where the last one stopped; while one run writes into a folder, another refuses \
            it (exit 2) or, with --wait, waits. Exit codes: 0 done, 1 fatal, 2 usage, 3 some inputs failed.
            """)

    @Argument(help: "A pipeline file, e.g. pipelines/denoise.yaml.") var pipeline: String
    @Option(help: "Input folder (overrides the file's).") var input: String?
    @Option(name: .output, help: "Output folder (overrides the file's).") var output: String?
    @Option(help: ArgumentHelp(ModelOptions.help + " (overrides the file's)")) var model: String?
    @Option(help: "Applications of f (overrides the file's).") var steps: Int?
    @Option(help: "Seed of the synthetic corruptions (overrides the file's).") var seed: UInt64?
    @Option(help: "How images meet the model's size (overrides the file's).") var fit: Job.Fit?
    @Option(help: "Corruption chain applied to each input, e.g. noise:0.2 or grayscale (overrides the file's; \"\" for none).")
    var corrupt: String?
    @Option(help: "Do share I of N of the inputs (by a stable hash of each relative path), into the shared output folder; `ign merge` joins the shards. Default: from SLURM_ARRAY_TASK_ID (with SLURM_ARRAY_TASK_COUNT or _MIN/_MAX) or JOB_COMPLETION_INDEX (with --shards or IGN_SHARDS).")
    var shard: String?
    @Option(help: "The number of shards, where the environment gives only the index (Kubernetes' JOB_COMPLETION_INDEX).") var shards: Int?
    @Flag(help: "If another ign run is writing into the output folder, wait for it to end instead of refusing.") var wait = false
    @OptionGroup var options: PipelineOptions

    func validate() throws {
        if let model { try ModelOptions.check(model) }
        if let steps { try Check.count("--steps", steps, in: Check.steps) }
        if let shard { do { _ = try Shard(parsing: shard) } catch { throw ValidationError("--shard: \(error)") } }
        if let shards { try Check.count("--shards", shards, in: 1...Shard.maxCount) }
        if let corrupt {
            do { _ = try Corruption.parseChain(corrupt) } catch { throw ValidationError("--corrupt \(corrupt): \(error)") }
        }
    }

    func run() throws {
        var job = try PipelineFile.load(URL(fileURLWithPath: pipeline))
        if let input { job.input = input }
        if let output { job.output = output }
        if let model { job.model = model }
        if let steps { job.steps = steps }
        if let seed { job.seed = seed }
        if let fit { job.fit = fit }
        if let corrupt { job.corruptions = try Corruption.parseChain(corrupt) }
        options.apply(to: &job)
        job.shard = try shard.map(Shard.init(parsing:)) ?? Shard.fromEnvironment(ProcessInfo.processInfo.environment, count: shards)
        _ = try runPipeline(job, force: options.force, quiet: options.quiet, waitsForLock: wait)
    }
}
