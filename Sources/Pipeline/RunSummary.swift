import Foundation

/// Statistics over all of a run's images: written as `summary.json` and `summary.csv`.
public struct RunSummary: Equatable, Sendable {
    /// Mean, median, 95th percentile (nearest rank) and maximum of one figure.
    public struct Statistics: Equatable, Sendable {
        public let name: String
        public let count: Int
        public let mean: Double
        public let median: Double
        public let p95: Double
        public let max: Double
    }

    /// Images processed.
    public let images: Int
    /// Inputs that failed.
    public let failures: Int
    /// One entry per figure that any image has, in metrics.jsonl order.
    public let statistics: [Statistics]
    /// Edges of the drift histogram: `bins + 1` values from 0 to the largest drift.
    public let driftEdges: [Double]
    /// Images per drift bin.
    public let driftCounts: [Int]

    /// Bins of the drift histogram.
    public static let bins = 20

    /// The figures of records, gathered one record at a time: per figure only its values.
    public struct Accumulator: Sendable {
        private(set) var names: [String] = []
        private(set) var values: [[Double]] = []
        private(set) var images = 0

        public init() {}

        /// Adds one image's figures. Infinite values (the PSNR of identical images) are left out.
        public mutating func add(_ record: ImageRecord) {
            let figures = record.figures
            if names.isEmpty {
                names = figures.map(\.name)
                values = Array(repeating: [], count: figures.count)
            }
            for (index, figure) in figures.enumerated() {
                if let value = figure.value, value.isFinite { values[index].append(value) }
            }
            images += 1
        }
    }

    /// Summarises records. Infinite values (the PSNR of identical images) are left out.
    public init(records: [ImageRecord], failures: Int) {
        var accumulator = Accumulator()
        for record in records { accumulator.add(record) }
        self.init(accumulator, failures: failures)
    }

    /// Summarises what `accumulator` gathered.
    public init(_ accumulator: Accumulator, failures: Int) {
        images = accumulator.images
        self.failures = failures
        var statistics: [Statistics] = []
        for (name, unsorted) in zip(accumulator.names, accumulator.values) {
            let values = unsorted.sorted()
            guard let top = values.last else { continue }
            let middle = values.count / 2
            let median = values.count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
            let rank = Int((0.95 * Double(values.count)).rounded(.up))
            statistics.append(Statistics(name: name, count: values.count, mean: values.reduce(0, +) / Double(values.count),
                                         median: median, p95: values[Swift.max(0, rank - 1)], max: top))
        }
        self.statistics = statistics
        let drifts = accumulator.names.firstIndex(of: "drift").map { accumulator.values[$0] } ?? []
        if let top = drifts.max() {
            let width = top > 0 ? top / Double(RunSummary.bins) : 1
            driftEdges = (0...RunSummary.bins).map { Double($0) * width }
            var counts = [Int](repeating: 0, count: RunSummary.bins)
            for d in drifts { counts[Swift.min(RunSummary.bins - 1, Int(d / width))] += 1 }
            driftCounts = counts
        } else {
            driftEdges = []
            driftCounts = []
        }
    }

    /// The summary as pretty-printed JSON.
    public var json: String {
        var lines = ["{", "  \"images\": \(images),", "  \"failures\": \(failures),", "  \"metrics\": {"]
        for (i, s) in statistics.enumerated() {
            let fields = [("count", String(s.count)), ("mean", JSON.number(s.mean)), ("median", JSON.number(s.median)),
                          ("p95", JSON.number(s.p95)), ("max", JSON.number(s.max))]
            lines.append("    \(JSON.string(s.name)): {" + fields.map { JSON.pair($0.0, $0.1) }.joined(separator: ", ")
                         + "}" + (i < statistics.count - 1 ? "," : ""))
        }
        lines += ["  },", "  \"drift_histogram\": {",
                  "    \"edges\": [" + driftEdges.map(JSON.number).joined(separator: ", ") + "],",
                  "    \"counts\": [" + driftCounts.map(String.init).joined(separator: ", ") + "]",
                  "  }", "}"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The summary as CSV: `images` and `failures` rows, then one row per figure.
    public var csv: String {
        var rows = ["metric,count,mean,median,p95,max", "images,\(images),,,,", "failures,\(failures),,,,"]
        for s in statistics {
            rows.append([s.name, String(s.count), "\(s.mean)", "\(s.median)", "\(s.p95)", "\(s.max)"].joined(separator: ","))
        }
        return rows.joined(separator: "\n") + "\n"
    }

    /// A few lines for people: counts, then each figure's statistics.
    public var text: String {
        var lines = ["\(images) images, \(failures) failed"]
        for s in statistics {
            lines.append("  " + s.name.padding(toLength: 15, withPad: " ", startingAt: 0)
                         + String(format: "mean %.4g  median %.4g  p95 %.4g  max %.4g", s.mean, s.median, s.p95, s.max))
        }
        return lines.joined(separator: "\n")
    }
}
