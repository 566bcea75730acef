import Foundation

/// `metrics.jsonl` and `errors.jsonl`: what is done and what failed, kept so that a run
/// killed at any moment (even by SIGKILL) resumes without redoing or repeating anything.
///
/// An image counts as done when its metrics line is there, its files exist (the line is
/// appended only after the files are renamed into place) and its input has the size and
/// modification time the line records. On opening, a torn last line, repeated lines, lines
/// of inputs changed since and lines of images whose files have gone are dropped; lines of
/// images this run does not select (another `--include`, or gone from the input) stay while
/// their output does. Failed inputs are retried, so `errors.jsonl` starts empty.
/// ``finish()`` sorts both files by path, so a resumed run ends byte-for-byte like an
/// uninterrupted one.
final class Ledger: @unchecked Sendable {
    private let metricsURL: URL
    private let errorsURL: URL
    private let metrics: LineLog
    private let errors: LineLog
    private var done: Set<String> = []

    /// Opens the ledger in `tree` for the inputs `stamps` (path → size and time); `fresh`
    /// forgets earlier runs. A shard keeps its own files (``Shard/metricsFile``, …).
    init(tree: OutputTree, stamps: [String: FileStamp], plan: OutputPlan, fresh: Bool, shard: Shard? = nil) throws {
        metricsURL = tree.root.appendingPathComponent(shard?.metricsFile ?? PipelineRunner.metricsFile)
        errorsURL = tree.root.appendingPathComponent(shard?.errorsFile ?? PipelineRunner.errorsFile)
        var kept: [String] = []
        if !fresh {
            var seen: Set<String> = []
            func exists(_ name: String) -> Bool { FileSystem.isFile(tree.root.path + "/" + name) }
            for line in LineLog.readLines(metricsURL) {
                guard let record = ImageRecord(jsonLine: line), !seen.contains(record.path) else { continue }
                if let stamp = stamps[record.path] {
                    guard record.source == stamp, let names = plan.names[record.path],
                          names.values.allSatisfy(exists) else { continue }
                    done.insert(record.path)
                } else if let output = record.output, !exists(output) {
                    continue
                }
                seen.insert(record.path)
                kept.append(String(line))
            }
        }
        try LineLog.rewrite(metricsURL, lines: kept)
        try LineLog.rewrite(errorsURL, lines: [])
        let summaries = shard.map { [$0.summaryFile, $0.doneFile] } ?? [PipelineRunner.summaryJSON, PipelineRunner.summaryCSV]
        for name in summaries {
            try? FileManager.default.removeItem(at: tree.root.appendingPathComponent(name))
        }
        metrics = try LineLog(metricsURL)
        errors = try LineLog(errorsURL)
    }

    /// Whether an earlier run finished this input.
    func isDone(_ path: String) -> Bool { done.contains(path) }

    /// Appends an image's metrics line (callers serialise).
    func record(_ record: ImageRecord) throws { try metrics.append(record.jsonLine) }

    /// Appends a failure line (callers serialise).
    func record(_ failure: FailureRecord) throws { try errors.append(failure.jsonLine) }

    /// Sorts both files by path (UTF-8 bytes, the input order) and summarises the metrics.
    func finish() throws -> RunSummary {
        let result = Ledger.sorted(metrics: LineLog.readLines(metricsURL), errors: LineLog.readLines(errorsURL))
        try LineLog.rewrite(metricsURL, lines: result.metrics)
        try LineLog.rewrite(errorsURL, lines: result.errors)
        return result.summary
    }

    /// Metrics and error lines in input order (by path, as UTF-8 bytes; then by the line) and their
    /// summary: what `finish()` writes, and what ``ShardMerge`` writes from all shards' lines.
    static func sorted(metrics: [Substring], errors: [Substring]) -> (metrics: [String], errors: [String], summary: RunSummary) {
        func sorted<T>(_ lines: [Substring], _ parse: (Substring) -> T?, _ path: (T) -> String) -> [(line: String, value: T)] {
            lines.compactMap { line in parse(line).map { (String(line), $0) } }.sorted {
                let a = path($0.value), b = path($1.value)
                return a != b ? a.utf8.lexicographicallyPrecedes(b.utf8) : $0.line.utf8.lexicographicallyPrecedes($1.line.utf8)
            }
        }
        let records = sorted(metrics, ImageRecord.init(jsonLine:), \.path)
        let failures = sorted(errors, FailureRecord.init(jsonLine:), \.path)
        return (records.map(\.line), failures.map(\.line), RunSummary(records: records.map(\.value), failures: failures.count))
    }
}
