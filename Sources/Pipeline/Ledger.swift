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
    /// forgets earlier runs.
    init(tree: OutputTree, stamps: [String: FileStamp], plan: OutputPlan, fresh: Bool) throws {
        metricsURL = tree.root.appendingPathComponent(PipelineRunner.metricsFile)
        errorsURL = tree.root.appendingPathComponent(PipelineRunner.errorsFile)
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
        for name in [PipelineRunner.summaryJSON, PipelineRunner.summaryCSV] {
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
        func sorted<T>(_ url: URL, _ parse: (Substring) -> T?, _ path: (T) -> String) -> [(line: String, value: T)] {
            LineLog.readLines(url).compactMap { line in parse(line).map { (String(line), $0) } }.sorted {
                let a = path($0.value), b = path($1.value)
                return a != b ? a.utf8.lexicographicallyPrecedes(b.utf8) : $0.line.utf8.lexicographicallyPrecedes($1.line.utf8)
            }
        }
        let records = sorted(metricsURL, ImageRecord.init(jsonLine:), \.path)
        let failures = sorted(errorsURL, FailureRecord.init(jsonLine:), \.path)
        try LineLog.rewrite(metricsURL, lines: records.map(\.line))
        try LineLog.rewrite(errorsURL, lines: failures.map(\.line))
        return RunSummary(records: records.map(\.value), failures: failures.count)
    }
}
