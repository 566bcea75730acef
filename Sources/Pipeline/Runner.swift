import Foundation
import IGN
import Imaging

/// Where a run stands: passed to the progress callback after every image and every batch.
public struct RunProgress: Sendable {
    /// Inputs this run has to do (those finished by an earlier run excluded).
    public let total: Int
    /// Images finished in this run.
    public let done: Int
    /// Inputs that failed in this run.
    public let failed: Int
    /// Images skipped because an earlier run finished them.
    public let skipped: Int
    /// Seconds since the run started.
    public let elapsed: Double

    /// Finished or failed inputs per second.
    public var rate: Double { elapsed > 0 ? Double(done + failed) / elapsed : 0 }
    /// Seconds left at the current rate; nil before the first image.
    public var eta: Double? { rate > 0 ? Double(total - done - failed) / rate : nil }
}

/// What a finished run reports.
public struct RunReport: Sendable {
    /// The output folder.
    public let output: URL
    /// The final progress of this run.
    public let progress: RunProgress
    /// Statistics over every image in the output folder (this run's and earlier runs').
    public let summary: RunSummary
    /// Decode/encode threads used.
    public let workers: Int
    /// Network threads used (0 without a model).
    public let threads: Int
}

/// Runs a ``Job``: discover → decode → corrupt → fit → batch → project → measure → write.
///
/// Decoding and encoding run on `workers` threads; projection runs on the calling thread,
/// which hands each batch to the engine's `threads` threads. Stages are joined by bounded
/// queues and only so many images (and bytes) are in flight, so memory stays flat however
/// many files there are. An image's output never depends on which images share its batch,
/// so results are identical for any worker count or batch size.
///
/// The output folder holds the images, `metrics.jsonl` (a line per image, appended once its
/// files are in place), `errors.jsonl`, `summary.json`, `summary.csv`, `pipeline.json`
/// (the settings, so that a rerun resumes only the same pipeline) and `.ign.lock` (``OutputLock``).
public final class PipelineRunner {
    /// The job being run.
    public let job: Job
    /// Redo every image instead of resuming.
    public let force: Bool
    /// Wait for another run writing into the output folder to end, instead of refusing.
    public let waitsForLock: Bool
    /// Called (serially, from any thread) as the run advances.
    public var onProgress: ((RunProgress) -> Void)?
    /// Called (serially, from any thread) for each input that fails.
    public var onFailure: ((FailureRecord) -> Void)?
    /// Called once with a remark on the run's settings (a model without the statistics asked for).
    public var onNote: ((String) -> Void)?

    /// Most bytes of decoded images held at once (one image alone may exceed it).
    public static let memoryBudget = 1 << 30

    /// The files kept beside the images.
    public static let metricsFile = "metrics.jsonl", errorsFile = "errors.jsonl", settingsFile = "pipeline.json",
                      summaryJSON = "summary.json", summaryCSV = "summary.csv"

    /// A runner; nothing happens until ``run()``.
    public init(job: Job, force: Bool = false, waitsForLock: Bool = false) {
        self.job = job
        self.force = force
        self.waitsForLock = waitsForLock
    }

    /// Runs the job. Throws `.usage` (having written nothing but the lock file) for bad settings, a missing
    /// input folder, an unknown model or a model that does not suit the job, or another run
    /// writing into the output folder (see ``OutputLock``), and `.model` or `.output` for fatal failures. A bad image is no error but a line in `errors.jsonl`.
    public func run() throws -> RunReport {
        try job.validate()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let workers = job.workers > 0 ? job.workers : cores
        let threads = job.threads > 0 ? job.threads : cores

        // Everything is checked before anything is written.
        let inputPath = FileSystem.realPath(job.input), outputPath = FileSystem.realPath(job.output)
        if FileSystem.contains(outputPath, inputPath) {
            throw PipelineError(.usage, "the input folder \(job.input) lies inside the output folder \(job.output): choose another output")
        }
        let (model, digest) = try loadModel()
        if let model {
            let size = model.architecture.imageSize
            if job.fit == .tiles && job.overlap >= size {
                throw PipelineError(.usage, "overlap \(job.overlap) must be smaller than the model's \(size)-pixel tiles")
            }
            if job.fit == .whole && !model.architecture.isFullyConvolutional {
                throw PipelineError(.usage, "fit: whole needs a fully-convolutional model (fcn8, fcn16); \(job.model!) is \(model.architecture.name), "
                                    + "which takes \(size)×\(size) samples: use fit: tiles")
            }
            if job.color == .lightness && model.channels != 3 {
                throw PipelineError(.usage, "color: lightness needs a 3-channel model; \(job.model!) has 1 channel")
            }
        }
        let discovery = Discovery(root: URL(fileURLWithPath: inputPath, isDirectory: true),
                                  include: try job.include.map(Glob.init), exclude: try job.exclude.map(Glob.init),
                                  followSymlinks: job.followSymlinks,
                                  skipping: FileSystem.contains(inputPath, outputPath) ? URL(fileURLWithPath: outputPath) : nil)
        let found = try discovery.run()

        // The output folder, locked against other runs until this one ends; its settings, and
        // the ledger of what is done already.
        let tree = try OutputTree(root: job.output)
        if job.shard != nil { _ = try tree.prepare(Shard.folder + "/lock") }  // creates shards/
        let lock = try OutputLock(folder: tree.root, name: job.shard?.lockFile ?? OutputLock.fileName, wait: waitsForLock)
        defer { lock.release() }
        let fingerprint = job.fingerprint(modelDigest: digest)
        let settingsURL = URL(fileURLWithPath: outputPath).appendingPathComponent(PipelineRunner.settingsFile)
        if !force, let previous = Fingerprint.read(settingsURL), previous != fingerprint {
            let changed = Set(previous.keys).union(fingerprint.keys).filter { previous[$0] != fingerprint[$0] }.sorted()
            throw PipelineError(.usage, "\(job.output) holds the results of another pipeline (\(changed.joined(separator: ", ")) differ): "
                                + "rerun with --force to replace them, or choose another output folder")
        }

        try FileSystem.writeAtomically(Data(Fingerprint.text(fingerprint).utf8), to: settingsURL)
        let plan = OutputPlan(files: found.files, artifacts: job.artifacts, format: job.format)
        let ledger = try Ledger(tree: tree, stamps: found.stamps, plan: plan, fresh: force, shard: job.shard)
        // A shard cannot tell its own leftovers from another shard's files in flight: merge removes them.
        if !force && job.shard == nil { tree.removeStaleTemporaries() }
        let shard = job.shard
        let mine = { (path: String) in shard?.contains(path) ?? true }
        let pending = found.files.filter { mine($0) && !ledger.isDone($0) }
        let problems = found.problems.filter { mine($0.path) }
        let skipped = found.files.filter(mine).count - pending.count

        try Vips.initialize(concurrency: 1)
        try Vips.silenceWarnings()
        let state = RunState(total: pending.count + problems.count, skipped: skipped,
                             onProgress: onProgress, onFailure: onFailure, ledger: ledger)
        for problem in problems {
            try state.fail(FailureRecord(path: problem.path, code: problem.code, message: problem.message))
        }
        var projector: Projector?
        if let model {
            if let note = model.resolve(job.statistics).note { onNote?(note) }
            projector = Projector(model: model, threads: threads, statistics: job.statistics)
        }
        let scheduler = Scheduler(job: job, files: pending, stamps: found.stamps, plan: plan, fit: job.imageFit(model: model),
                                  channels: model?.channels, threads: threads, finisher: Finisher(job: job, tree: tree), state: state,
                                  workers: workers)
        try scheduler.run(projector: projector)

        let summary = try ledger.finish()
        if let shard = job.shard {
            try FileSystem.writeAtomically(Data(summary.json.utf8), to: tree.root.appendingPathComponent(shard.summaryFile))
            try FileSystem.writeAtomically(Data("{\"shard\":\"\(shard)\",\"images\":\(summary.images),\"failures\":\(summary.failures)}\n".utf8),
                                           to: tree.root.appendingPathComponent(shard.doneFile))
        } else {
            try FileSystem.writeAtomically(Data(summary.json.utf8), to: tree.root.appendingPathComponent(PipelineRunner.summaryJSON))
            try FileSystem.writeAtomically(Data(summary.csv.utf8), to: tree.root.appendingPathComponent(PipelineRunner.summaryCSV))
        }
        return RunReport(output: tree.root, progress: state.snapshot(), summary: summary, workers: workers,
                         threads: model == nil ? 0 : threads)
    }

    private func loadModel() throws -> (IGNModel?, String?) {
        guard let name = job.model else { return (nil, nil) }
        let url: URL
        do { url = try BundledModels.resolve(name) } catch { throw PipelineError(.usage, "\(error)") }
        do {
            let model = try BundledModels.load(url.path)
            return (model, "\(model.architecture.name):\(model.channels):\(try Fingerprint.digest(of: url))")
        } catch {
            throw PipelineError(.model, "\(error)")
        }
    }
}

/// A run's counters, its ledger and the callbacks, behind one lock.
final class RunState: @unchecked Sendable {
    private let lock = NSLock()
    private let total: Int
    private let skipped: Int
    private var done = 0
    private var failed = 0
    private let start = Date()
    private let onProgress: ((RunProgress) -> Void)?
    private let onFailure: ((FailureRecord) -> Void)?
    private let ledger: Ledger

    init(total: Int, skipped: Int, onProgress: ((RunProgress) -> Void)?, onFailure: ((FailureRecord) -> Void)?, ledger: Ledger) {
        self.total = total
        self.skipped = skipped
        self.onProgress = onProgress
        self.onFailure = onFailure
        self.ledger = ledger
    }

    func snapshot() -> RunProgress {
        lock.lock()
        defer { lock.unlock() }
        return snapshotLocked()
    }

    private func snapshotLocked() -> RunProgress {
        RunProgress(total: total, done: done, failed: failed, skipped: skipped, elapsed: Date().timeIntervalSince(start))
    }

    /// Records a finished image, whose files are in place.
    func finish(_ record: ImageRecord) throws {
        lock.lock()
        defer { lock.unlock() }
        try ledger.record(record)
        done += 1
        onProgress?(snapshotLocked())
    }

    /// Records a failed input.
    func fail(_ record: FailureRecord) throws {
        lock.lock()
        defer { lock.unlock() }
        try ledger.record(record)
        failed += 1
        onFailure?(record)
        onProgress?(snapshotLocked())
    }

    /// Reports progress with unchanged counts (after each batch, so the display stays live).
    func tick() {
        lock.lock()
        defer { lock.unlock() }
        onProgress?(snapshotLocked())
    }
}
