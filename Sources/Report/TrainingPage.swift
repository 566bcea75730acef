import Basics
import Foundation

/// The page of a training run (`NAME.train.html` beside `NAME.train.jsonl`): loss curves and the
/// sample grids of its snapshots, made by the caller.
public enum TrainingPage {
    /// One snapshot's sample grid, relative to the page's folder.
    public struct Snapshot: Sendable {
        public let step: Int
        public let grid: String
        public init(step: Int, grid: String) { self.step = step; self.grid = grid }
    }

    /// Writes the page for the log at `log`; returns its URL.
    @discardableResult
    public static func build(log: URL, snapshots: [Snapshot]) throws -> URL {
        guard let text = try? String(contentsOf: log, encoding: .utf8) else {
            throw ReportError("\(log.path): cannot read the training log")
        }
        let rows = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Double] }
        guard !rows.isEmpty else { throw ReportError("\(log.path): no training steps logged yet") }
        let name = log.lastPathComponent.replacingOccurrences(of: ".train.jsonl", with: "")
        var body = "<h1>ign train: \(HTML.escape(name))</h1>"
        let last = rows[rows.count - 1]
        body += "<p class=\"lead\" id=\"counts\">step \(Int(last["step"] ?? 0)), epoch \(Int(last["epoch"] ?? 0)), "
            + "\(String(format: "%.0f", last["seconds"] ?? 0)) s of training, lr \(HTML.figure(last["lr"])), last \(HTML.figure(last["img_per_s"])) img/s</p>"
        body += "<section id=\"losses\"><h2>Losses</h2><div class=\"plots\">"
        let adversarial = rows.contains { ($0["tight"] ?? 0) != 0 }
        for loss in ["rec", "idem", adversarial ? "tight" : "imle", "total"] {
            let points = rows.compactMap { r in r["step"].flatMap { s in r[loss].map { (s, $0) } } }
            body += "<figure>" + SVGPlot.line(id: "plot-\(loss)", points: points, xLabel: "step", yLabel: loss) + "<figcaption>\(loss)</figcaption></figure>"
        }
        body += "</div></section><section id=\"snapshots\"><h2>Snapshots: f(z), one application</h2>"
        if snapshots.isEmpty { body += "<p>None (train with --snapshot-every N).</p>" }
        body += "<div class=\"cards\">" + snapshots.map { s in
            "<figure class=\"card\"><a href=\"\(HTML.link(s.grid))\"><img src=\"\(HTML.link(s.grid))\" alt=\"step \(s.step)\"></a><figcaption>step \(s.step)</figcaption></figure>"
        }.joined() + "</div></section>"
        let url = log.deletingLastPathComponent().appendingPathComponent(name + ".train.html")
        try AtomicFile.write(Data(RunPage.document(title: "ign train — \(name)", body: body).utf8), to: url)
        return url
    }
}
