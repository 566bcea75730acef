import Foundation
import Pipeline

/// How long a run took: kept beside its report, so a rebuilt report still shows it.
public struct RunTiming: Codable, Equatable, Sendable {
    /// Wall-clock seconds of the run (the last one, for a resumed folder).
    public var seconds: Double
    /// Images that run finished (done or failed).
    public var images: Int
    /// Images left as earlier runs had done them.
    public var skipped: Int

    public init(seconds: Double, images: Int, skipped: Int) {
        self.seconds = seconds; self.images = images; self.skipped = skipped
    }
}

/// What a run left in its output folder, read back: settings, metrics, failures and summary.
struct RunFolder {
    let root: URL
    /// `pipeline.json`: the settings that decide the outputs.
    let settings: [(key: String, value: String)]
    /// `metrics.jsonl`, in input order.
    let records: [ImageRecord]
    /// `errors.jsonl`, in input order.
    let failures: [FailureRecord]
    /// `summary.json`'s figures: name → (count, mean, median, p95, max), in metrics.jsonl order.
    let statistics: [(name: String, values: [String: Double])]
    let images: Int, failureCount: Int
    let driftEdges: [Double], driftCounts: [Int]

    init(_ root: URL) throws {
        self.root = root
        func read(_ name: String) throws -> Data {
            do { return try Data(contentsOf: root.appendingPathComponent(name)) } catch {
                throw ReportError("\(root.appendingPathComponent(name).path): cannot read it (\(error.localizedDescription)); is \(root.path) an ign run folder?")
            }
        }
        func lines(_ name: String) throws -> [Substring] {
            guard FileManager.default.fileExists(atPath: root.appendingPathComponent(name).path) else { return [] }
            return String(decoding: try read(name), as: UTF8.self).split(separator: "\n")
        }
        guard let settings = try JSONSerialization.jsonObject(with: read(PipelineRunner.settingsFile)) as? [String: String] else {
            throw ReportError("\(root.path)/\(PipelineRunner.settingsFile): not the settings of an ign run")
        }
        self.settings = settings.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        records = try lines(PipelineRunner.metricsFile).compactMap { ImageRecord(jsonLine: $0) }.sorted { $0.path < $1.path }
        failures = try lines(PipelineRunner.errorsFile).compactMap { FailureRecord(jsonLine: $0) }.sorted { $0.path < $1.path }
        guard let summary = try JSONSerialization.jsonObject(with: read(PipelineRunner.summaryJSON)) as? [String: Any],
              let metrics = summary["metrics"] as? [String: [String: Double]] else {
            throw ReportError("\(root.path)/\(PipelineRunner.summaryJSON): not an ign run summary")
        }
        let order = ImageRecord(path: "", output: nil, width: 0, height: 0, corruption: "").figures.map(\.name)
        statistics = order.compactMap { name in metrics[name].map { (name, $0) } }
        images = summary["images"] as? Int ?? records.count
        failureCount = summary["failures"] as? Int ?? failures.count
        let histogram = summary["drift_histogram"] as? [String: [Double]]
        driftEdges = histogram?["edges"] ?? []
        driftCounts = (histogram?["counts"] ?? []).map { Int($0) }
    }

    func setting(_ key: String) -> String? { settings.first { $0.key == key }?.value }
}

/// A report that cannot be built: names the folder or file and the cause.
public struct ReportError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
