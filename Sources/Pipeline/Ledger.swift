import Foundation

/// `metrics.jsonl` and `errors.jsonl`: what is done and what failed, kept so that a run
/// killed at any moment (even by SIGKILL) resumes without redoing or repeating anything.
///
/// An image counts as done when its metrics line is there and its files exist (the line is
/// appended only after the files are renamed into place). On opening, a torn last line,
/// repeated lines and lines of images whose files have gone are dropped; failed inputs are
/// retried, so `errors.jsonl` starts empty. ``finish(order:)`` sorts both files into input
/// order, so a resumed run ends byte-for-byte like an uninterrupted one.
final class Ledger: @unchecked Sendable {
    private let metricsURL: URL
    private let errorsURL: URL
    private let metrics: LineLog
    private let errors: LineLog
    private var done: Set<String> = []

    /// Opens the ledger in `tree` for the inputs `files`; `fresh` forgets earlier runs.
    init(tree: OutputTree, files: [String], plan: OutputPlan, fresh: Bool) throws {
        metricsURL = tree.root.appendingPathComponent(PipelineRunner.metricsFile)
        errorsURL = tree.root.appendingPathComponent(PipelineRunner.errorsFile)
        var kept: [String] = []
        if !fresh {
            let wanted = Set(files)
            for line in LineLog.readLines(metricsURL) {
                guard let record = ImageRecord(jsonLine: line), wanted.contains(record.path),
                      !done.contains(record.path), let names = plan.names[record.path],
                      names.values.allSatisfy({ FileSystem.isFile(tree.root.path + "/" + $0) }) else { continue }
                done.insert(record.path)
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

    /// Sorts both files into input order (paths not in `order` last) and summarises the metrics.
    func finish(order: [String]) throws -> RunSummary {
        let rank = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        func sorted<T>(_ url: URL, _ parse: (Substring) -> T?, _ path: (T) -> String) -> [(line: String, value: T)] {
            LineLog.readLines(url).compactMap { line in parse(line).map { (String(line), $0) } }.sorted {
                let a = path($0.value), b = path($1.value)
                let ra = rank[a] ?? Int.max, rb = rank[b] ?? Int.max
                return ra != rb ? ra < rb : a.utf8.lexicographicallyPrecedes(b.utf8)
            }
        }
        let records = sorted(metricsURL, ImageRecord.init(jsonLine:), \.path)
        let failures = sorted(errorsURL, FailureRecord.init(jsonLine:), \.path)
        try LineLog.rewrite(metricsURL, lines: records.map(\.line))
        try LineLog.rewrite(errorsURL, lines: failures.map(\.line))
        return RunSummary(records: records.map(\.value), failures: failures.count)
    }
}
