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
    private let done: Set<String>

    /// Opens the ledger in `tree` for the inputs `stamps` (path → size and time); `fresh`
    /// forgets earlier runs. A shard keeps its own files (``Shard/metricsFile``, …).
    init(tree: OutputTree, stamps: [String: FileStamp], plan: OutputPlan, fresh: Bool, shard: Shard? = nil) throws {
        metricsURL = tree.root.appendingPathComponent(shard?.metricsFile ?? PipelineRunner.metricsFile)
        errorsURL = tree.root.appendingPathComponent(shard?.errorsFile ?? PipelineRunner.errorsFile)
        var kept: [LineRef] = [], done: Set<String> = []
        if !fresh {
            var seen: Set<String> = []
            func exists(_ name: String) -> Bool { FileSystem.isFile(tree.root.path + "/" + name) }
            LineLog.scanLines(metricsURL) { line, bytes in
                guard let record = ImageRecord(jsonLine: line), !seen.contains(record.path) else { return }
                if let stamp = stamps[record.path] {
                    guard record.source == stamp, let names = plan.names[record.path],
                          names.values.allSatisfy(exists) else { return }
                    done.insert(record.path)
                } else if let output = record.output, !exists(output) {
                    return
                }
                seen.insert(record.path)
                kept.append(LineRef(file: 0, bytes: bytes))
            }
        }
        self.done = done
        try LineLog.rewrite(metricsURL, lines: kept, of: LineFiles([metricsURL]))
        try FileSystem.writeAtomically(Data(), to: errorsURL)
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
        try Ledger.merge(metrics: [metricsURL], errors: [errorsURL], into: metricsURL, errorsURL)
    }

    /// Writes the metrics and error lines of `metrics` and `errors` files, in input order (by
    /// path, as UTF-8 bytes; then by the line), to `metricsURL` and `errorsURL` (which may be
    /// among them), and summarises the metrics: what `finish()` does with a run's own files, and
    /// ``ShardMerge`` with all shards'. Memory holds per line its path, place and figures, never
    /// the line itself.
    static func merge(metrics: [URL], errors: [URL], into metricsURL: URL, _ errorsURL: URL) throws -> RunSummary {
        var accumulator = RunSummary.Accumulator()
        let metricFiles = LineFiles(metrics), errorFiles = LineFiles(errors)
        let records = try sortedLines(metricFiles) { line in
            ImageRecord(jsonLine: line).map { accumulator.add($0); return $0.path }
        }
        let failures = try sortedLines(errorFiles) { FailureRecord(jsonLine: $0)?.path }
        try LineLog.rewrite(metricsURL, lines: records, of: metricFiles)
        try LineLog.rewrite(errorsURL, lines: failures, of: errorFiles)
        return RunSummary(accumulator, failures: failures.count)
    }

    /// The lines of `files` that `path` reads, sorted by that path (UTF-8 bytes; lines with the
    /// same path by their bytes).
    private static func sortedLines(_ files: LineFiles, path: (Substring) -> String?) throws -> [LineRef] {
        var lines: [(path: String, line: LineRef)] = []
        for (index, url) in files.urls.enumerated() {
            LineLog.scanLines(url) { text, bytes in
                if let key = path(text) { lines.append((key, LineRef(file: index, bytes: bytes))) }
            }
        }
        var failure: Error?
        lines.sort { a, b in
            if a.path != b.path { return a.path.utf8.lexicographicallyPrecedes(b.path.utf8) }
            do { return try files.bytes(a.line).lexicographicallyPrecedes(files.bytes(b.line)) } catch {
                failure = failure ?? error
                return false
            }
        }
        if let failure { throw failure }
        return lines.map(\.line)
    }
}
