import Basics
import Foundation

/// Task `index` of `count` in a run split over a scheduler's tasks (a Slurm job array, a
/// Kubernetes Indexed Job): it does exactly the inputs whose stable hash of the relative path
/// falls in its share, so adding a file moves only that file, and ``ShardMerge`` then makes the
/// folder's records identical to a one-process run's.
///
/// A shard keeps its records under `shards/` in the shared output folder (``metricsFile``, …,
/// tagged `0003-of-0016`), holds its own lock there, and marks itself complete with
/// ``doneFile`` when it ends; its image files go into the shared tree (disjoint by construction).
public struct Shard: Equatable, Sendable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    /// The most shards a run may be split into.
    public static let maxCount = 100_000
    /// The folder of the shards' records, inside the output folder.
    public static let folder = "shards"

    public init(index: Int, count: Int) throws {
        guard (1...Shard.maxCount).contains(count), (0..<count).contains(index) else {
            throw PipelineError(.usage, "shard \(index)/\(count): need 0 ≤ index < count ≤ \(Shard.maxCount)")
        }
        self.index = index; self.count = count
    }

    /// Reads `I/N`, e.g. `3/16`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw PipelineError(.usage, "shard \"\(text)\": expected I/N, e.g. 3/16")
        }
        try self.init(index: index, count: count)
    }

    /// The shard a scheduler's environment names, or nil outside one: Slurm's
    /// `SLURM_ARRAY_TASK_ID` with `count` (`--shards`), or with `SLURM_ARRAY_TASK_COUNT` (or
    /// `SLURM_ARRAY_TASK_MIN`/`MAX`) when the array is the whole run; Kubernetes'
    /// `JOB_COMPLETION_INDEX` with `count` or `IGN_SHARDS`.
    public static func fromEnvironment(_ environment: [String: String], count: Int?) throws -> Shard? {
        func number(_ name: String) throws -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text) else { throw PipelineError(.usage, "\(name)=\(text) is not a whole number") }
            return value
        }
        if let id = try number("SLURM_ARRAY_TASK_ID") {
            // With the count given, the task id is the index itself: `--array=7 … --shards 16`
            // reruns shard 7 alone. Otherwise the array is the run: index = id − min, count = its size.
            if let count { return try Shard(index: id, count: count) }
            let low = try number("SLURM_ARRAY_TASK_MIN") ?? 0
            guard let total = try number("SLURM_ARRAY_TASK_COUNT") ?? number("SLURM_ARRAY_TASK_MAX").map({ $0 - low + 1 }) else {
                throw PipelineError(.usage, "SLURM_ARRAY_TASK_ID is set but not the array's size (SLURM_ARRAY_TASK_COUNT or _MAX): give --shards N")
            }
            return try Shard(index: id - low, count: total)
        }
        if let index = try number("JOB_COMPLETION_INDEX") {
            guard let total = try count ?? number("IGN_SHARDS") else {
                throw PipelineError(.usage, "JOB_COMPLETION_INDEX is set: give the number of shards with --shards N or IGN_SHARDS")
            }
            return try Shard(index: index, count: total)
        }
        return nil
    }

    /// Whether this shard does the input at `relativePath`: SplitMix64 of its FNV-1a 64 hash, modulo the count.
    public func contains(_ relativePath: String) -> Bool {
        RandomSource.mix(FNV1a64.hash(relativePath.utf8)) % UInt64(count) == UInt64(index)
    }

    /// `0003-of-0016`: sorts in index order, names its files.
    public var tag: String { String(format: "%04d-of-%04d", index, count) }
    public var description: String { "\(index)/\(count)" }

    var metricsFile: String { "\(Shard.folder)/metrics.\(tag).jsonl" }
    var errorsFile: String { "\(Shard.folder)/errors.\(tag).jsonl" }
    var summaryFile: String { "\(Shard.folder)/summary.\(tag).json" }
    /// Written when the shard has done all its inputs; its absence means "not complete".
    var doneFile: String { "\(Shard.folder)/done.\(tag).json" }
    var lockFile: String { "\(Shard.folder)/lock.\(tag)" }

    /// Reads a tag back.
    init?(tag: Substring) {
        let parts = tag.split(separator: "-")
        guard parts.count == 3, parts[1] == "of", let index = Int(parts[0]), let count = Int(parts[2]),
              let shard = try? Shard(index: index, count: count) else { return nil }
        self = shard
    }
}

/// `ign merge`: once every shard of a run is complete, writes the folder's `metrics.jsonl`,
/// `errors.jsonl`, `summary.json` and `summary.csv` exactly as one process would have.
public enum ShardMerge {
    /// Merges the shards' records in `folder`. Throws `.output` naming the shards that are not
    /// complete (or still running) and writes nothing then.
    public static func merge(folder: URL) throws -> RunSummary {
        let tree = try OutputTree(root: folder.path)
        let lock = try OutputLock(folder: tree.root, wait: false)
        defer { lock.release() }
        let shardsFolder = tree.root.appendingPathComponent(Shard.folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: shardsFolder.path)) ?? []
        let done = names.compactMap { name -> Shard? in
            guard name.hasPrefix("done."), name.hasSuffix(".json") else { return nil }
            return Shard(tag: name.dropFirst("done.".count).dropLast(".json".count))
        }
        let shardsSeen = names.compactMap { name -> Shard? in
            guard name.hasPrefix("metrics."), name.hasSuffix(".jsonl") else { return nil }
            return Shard(tag: name.dropFirst("metrics.".count).dropLast(".jsonl".count))
        }
        guard let count = (done + shardsSeen).first?.count else {
            throw PipelineError(.output, "\(folder.path): no shard records in \(Shard.folder)/: nothing to merge (run ign run --shard I/N first)")
        }
        let counts = Set((done + shardsSeen).map(\.count))
        guard counts.count == 1 else {
            throw PipelineError(.output, "\(shardsFolder.path) holds shards of runs split \(counts.sorted().map(String.init).joined(separator: " and ")) ways: remove the stale ones")
        }
        let complete = Set(done.map(\.index))
        let missing = (0..<count).filter { !complete.contains($0) }
        guard missing.isEmpty else {
            let list = missing.prefix(20).map(String.init).joined(separator: ", ") + (missing.count > 20 ? ", …" : "")
            throw PipelineError(.output, "\(missing.count) of \(count) shards are not complete (\(list)): run them (ign run --shard I/\(count)), then merge again")
        }
        let shards = try (0..<count).map { try Shard(index: $0, count: count) }
        for shard in shards {
            do { try OutputLock(folder: tree.root, name: shard.lockFile, wait: false).release() } catch {
                throw PipelineError(.output, "shard \(shard) is still running (it holds \(shard.lockFile)): merge when it ends")
            }
        }
        let merged = try Ledger.merge(metrics: shards.map { tree.root.appendingPathComponent($0.metricsFile) },
                                      errors: shards.map { tree.root.appendingPathComponent($0.errorsFile) },
                                      into: tree.root.appendingPathComponent(PipelineRunner.metricsFile),
                                      tree.root.appendingPathComponent(PipelineRunner.errorsFile))
        try FileSystem.writeAtomically(Data(merged.json.utf8), to: tree.root.appendingPathComponent(PipelineRunner.summaryJSON))
        try FileSystem.writeAtomically(Data(merged.csv.utf8), to: tree.root.appendingPathComponent(PipelineRunner.summaryCSV))
        tree.removeStaleTemporaries()
        return merged
    }
}
