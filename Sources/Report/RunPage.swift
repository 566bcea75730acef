import Basics
import Foundation
import Imaging
import Pipeline

/// `report.html` of a run folder: settings, summary table, plots, the images where f does worst,
/// a paged gallery of before/after strips and the failures, all linked by relative paths.
///
/// Built from the files a run leaves (``RunFolder``), so `ign report` rebuilds it for a resumed or
/// merged run. Thumbnails (``Thumbnails``: JPEG, at most 240 wide, under `report/thumbs/`) are
/// written by the run itself; the report makes only those missing or older than their strip (or
/// output), e.g. for folders of older runs. Gallery pages after the first are `report-gallery-N.html`. No script, no network: the page is static.
public enum RunPage {
    public static let fileName = "report.html"
    /// Folder of the report's own files, inside the run folder.
    public static let assets = "report"
    /// Images per gallery page, and in each "worst" list.
    public static let pageSize = 96, worstCount = 24

    /// What building a report did.
    public struct Outcome: Sendable {
        public let page: URL
        public let pages: Int
        public let thumbnailsMade: Int
        public let seconds: Double
    }

    /// Builds the report of the run in `folder`; `timing` (from the run that just ended) is
    /// stored beside it, otherwise the stored one is shown.
    @discardableResult
    public static func build(folder: URL, timing: RunTiming? = nil) throws -> Outcome {
        let started = Date()
        let run = try RunFolder(folder)
        let assets = folder.appendingPathComponent(Self.assets)
        let timingURL = assets.appendingPathComponent("timing.json")
        try FileManager.default.createDirectory(at: assets, withIntermediateDirectories: true)
        if let timing {
            try AtomicFile.write(try JSONEncoder().encode(timing), to: timingURL)
        }
        let shownTiming = try timing ?? (try? Data(contentsOf: timingURL)).map { try JSONDecoder().decode(RunTiming.self, from: $0) }

        let stripsWritten = (run.setting("write") ?? "").split(separator: ",").contains("strip")
        let cards = run.records.map { Card(record: $0, stripsWritten: stripsWritten) }
        let made = try makeThumbnails(cards.compactMap(\.thumbnail), in: folder)
        let pages = max(1, (cards.count + pageSize - 1) / pageSize)
        for page in 2...max(2, pages) where page <= pages {
            let html = document(title: "ign run — gallery page \(page) of \(pages)",
                                body: "<p><a href=\"\(fileName)\">← report</a></p>" + gallery(cards, page: page, pages: pages))
            try AtomicFile.write(Data(html.utf8), to: folder.appendingPathComponent(galleryFile(page)))
        }
        let html = document(title: "ign run — \(folder.lastPathComponent)", body: mainBody(run, cards, timing: shownTiming, pages: pages))
        let url = folder.appendingPathComponent(fileName)
        try AtomicFile.write(Data(html.utf8), to: url)
        return Outcome(page: url, pages: pages, thumbnailsMade: made, seconds: Date().timeIntervalSince(started))
    }

    static func galleryFile(_ page: Int) -> String { page == 1 ? fileName + "#gallery" : "report-gallery-\(page).html" }

    // MARK: Images

    /// One image as the report shows it.
    struct Card {
        let record: ImageRecord
        /// The strip (or output) the card links to, relative to the run folder.
        let target: String?
        /// (source, thumbnail), relative to the run folder.
        let thumbnail: (source: String, thumb: String)?

        init(record: ImageRecord, stripsWritten: Bool) {
            self.record = record
            var target = record.output
            if stripsWritten, let output = record.output {
                let ext = (output as NSString).pathExtension
                target = (output as NSString).deletingPathExtension + ".strip." + ext
            }
            self.target = target
            thumbnail = target.map { ($0, Thumbnails.path(for: $0)) }
        }

        var html: String {
            let r = record
            var caption = "<b>\(HTML.escape(r.path))</b>"
            if let d = r.drift { caption += "<br>drift \(HTML.figure(d))" }
            if let a = r.psnrIn, let b = r.psnrOut { caption += "<br>PSNR \(HTML.figure(a)) → \(HTML.figure(b)) dB" }
            guard let target, let thumbnail else { return "<figure class=\"card\"><figcaption>\(caption)</figcaption></figure>" }
            return "<figure class=\"card\"><a href=\"\(HTML.link(target))\"><img src=\"\(HTML.link(thumbnail.thumb))\" alt=\"\(HTML.escape(r.path))\" loading=\"lazy\"></a><figcaption>\(caption)</figcaption></figure>"
        }
    }

    /// Makes missing or stale thumbnails on all cores; returns how many it made. An unreadable
    /// source (deleted since the run) gets none, and its card shows a broken link to it.
    private static func makeThumbnails(_ items: [(source: String, thumb: String)], in folder: URL) throws -> Int {
        try Vips.initialize(concurrency: 1)
        let fm = FileManager.default
        let todo = items.filter { item in
            let source = folder.appendingPathComponent(item.source).path, thumb = folder.appendingPathComponent(item.thumb).path
            guard let s = try? fm.attributesOfItem(atPath: source)[.modificationDate] as? Date else { return false }
            guard let t = try? fm.attributesOfItem(atPath: thumb)[.modificationDate] as? Date else { return true }
            return t < s
        }
        let made = Counter()
        DispatchQueue.concurrentPerform(iterations: todo.count) { i in
            let source = folder.appendingPathComponent(todo[i].source), thumb = folder.appendingPathComponent(todo[i].thumb)
            do {
                let image = try ImageLoader().load(source)
                try fm.createDirectory(at: thumb.deletingLastPathComponent(), withIntermediateDirectories: true)
                try ImageWriter(jpegQuality: Thumbnails.quality).write(try Thumbnails.shrink(image), to: thumb)
                made.add()
            } catch {
                // The card links to what is there; a missing thumbnail shows as a broken image.
            }
        }
        return made.value
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func add() { lock.lock(); count += 1; lock.unlock() }
        var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    }

    // MARK: Page

    private static func mainBody(_ run: RunFolder, _ cards: [Card], timing: RunTiming?, pages: Int) -> String {
        var s = "<h1>ign run: \(HTML.escape(run.root.lastPathComponent))</h1>"
        var lead = "<p class=\"lead\" id=\"counts\"><span data-images=\"\(run.images)\">\(run.images) images</span>, "
            + "<span data-failures=\"\(run.failureCount)\">\(run.failureCount) failed</span>"
        if let timing {
            let rate = timing.seconds > 0 ? Double(timing.images) / timing.seconds : 0
            lead += " · last run: \(timing.images) images in \(String(format: "%.1f", timing.seconds)) s (\(String(format: "%.1f", rate)) img/s)"
            if timing.skipped > 0 { lead += ", \(timing.skipped) already done before it" }
        }
        s += lead + "</p>"
        func mean(_ name: String) -> Double? { run.statistics.first { $0.name == name }?.values["mean"] }
        var gains: [String] = []
        if let a = mean("psnr_in"), let b = mean("psnr_out") { gains.append("PSNR \(HTML.figure(a)) → <b>\(HTML.figure(b))</b> dB") }
        if let a = mean("ssim_in"), let b = mean("ssim_out") { gains.append("SSIM \(HTML.figure(a)) → <b>\(HTML.figure(b))</b>") }
        if let a = mean("delta_e_in"), let b = mean("delta_e_out") { gains.append("ΔE76 \(HTML.figure(a)) → <b>\(HTML.figure(b))</b>") }
        if let blur = mean("psnr_blur") { gains.append("tuned blur \(HTML.figure(blur)) dB") }
        if !gains.isEmpty { s += "<p class=\"lead\" id=\"gains\">Mean over images: " + gains.joined(separator: " · ") + "</p>" }

        s += "<section id=\"summary\"><h2>Summary</h2><table id=\"summary-table\"><thead><tr><th>figure</th>"
        let columns = ["count", "mean", "median", "p95", "max"]
        s += columns.map { "<th>\($0)</th>" }.joined() + "</tr></thead><tbody>"
        for (name, values) in run.statistics {
            s += "<tr><th>\(HTML.escape(name))</th>"
            for column in columns {
                let value = values[column]
                s += "<td data-metric=\"\(HTML.escape(name))\" data-stat=\"\(column)\" data-value=\"\(value.map { "\($0)" } ?? "")\">"
                    + (column == "count" ? value.map { String(Int($0)) } ?? "–" : HTML.figure(value)) + "</td>"
            }
            s += "</tr>"
        }
        s += "</tbody></table></section>"

        s += "<section id=\"plots\"><h2>Plots</h2><div class=\"plots\">"
        if !run.driftCounts.isEmpty {
            s += "<figure>" + SVGPlot.histogram(id: "plot-drift", edges: run.driftEdges, counts: run.driftCounts, xLabel: "drift RMS(f(y) − y)")
                + "<figcaption>Drift of the outputs</figcaption></figure>"
        }
        let psnr = run.records.compactMap { r in r.psnrIn.flatMap { a in r.psnrOut.map { (a, $0) } } }
        if !psnr.isEmpty {
            s += "<figure>" + SVGPlot.scatter(id: "plot-psnr", points: psnr, xLabel: "PSNR in (dB)", yLabel: "PSNR out (dB)", diagonal: true)
                + "<figcaption>PSNR in vs out; above the line f helped\(psnr.count > 5000 ? " (5,000 of \(psnr.count) images shown)" : "")</figcaption></figure>"
            let driftGain = run.records.compactMap { r in r.drift.flatMap { d in r.psnrIn.flatMap { a in r.psnrOut.map { (d, $0 - a) } } } }
            if !driftGain.isEmpty {
                s += "<figure>" + SVGPlot.scatter(id: "plot-gain", points: driftGain, xLabel: "drift", yLabel: "PSNR gain (dB)", zeroLine: true)
                    + "<figcaption>Drift vs PSNR gain</figcaption></figure>"
            }
        }
        s += "</div></section>"

        let byDrift = cards.filter { $0.record.drift != nil }.sorted { ($0.record.drift!, $1.record.path) > ($1.record.drift!, $0.record.path) }
        if !byDrift.isEmpty {
            s += "<section id=\"worst-drift\"><h2>Highest drift</h2><div class=\"cards\">"
                + byDrift.prefix(worstCount).map(\.html).joined() + "</div></section>"
        }
        func loss(_ c: Card) -> Double? { c.record.psnrIn.flatMap { a in c.record.psnrOut.map { a - $0 } } }
        let byLoss = cards.filter { loss($0) != nil }.sorted { (loss($0)!, $1.record.path) > (loss($1)!, $0.record.path) }
        if !byLoss.isEmpty {
            s += "<section id=\"worst-psnr\"><h2>Largest PSNR loss (or least gain)</h2><div class=\"cards\">"
                + byLoss.prefix(worstCount).map(\.html).joined() + "</div></section>"
        }
        s += gallery(cards, page: 1, pages: pages)

        s += "<section id=\"errors\"><h2>Failures (\(run.failureCount))</h2>"
        if run.failures.isEmpty {
            s += "<p>None.</p>"
        } else {
            s += "<table id=\"errors-table\"><thead><tr><th>file</th><th>cause</th><th>message</th></tr></thead><tbody>"
            for f in run.failures.prefix(1000) {
                s += "<tr><td>\(HTML.escape(f.path))</td><td>\(HTML.escape(f.code))</td><td>\(HTML.escape(f.message))</td></tr>"
            }
            s += "</tbody></table>"
            if run.failures.count > 1000 { s += "<p>First 1,000 shown; all are in <a href=\"\(PipelineRunner.errorsFile)\">errors.jsonl</a>.</p>" }
        }
        s += "</section>"

        s += "<section id=\"settings\"><h2>Settings</h2><table id=\"settings-table\"><tbody>"
        for (key, value) in run.settings { s += "<tr><th>\(HTML.escape(key))</th><td>\(HTML.escape(value))</td></tr>" }
        s += "</tbody></table><p>Files: <a href=\"\(PipelineRunner.metricsFile)\">metrics.jsonl</a> · <a href=\"\(PipelineRunner.errorsFile)\">errors.jsonl</a> · "
            + "<a href=\"\(PipelineRunner.summaryJSON)\">summary.json</a> · <a href=\"\(PipelineRunner.summaryCSV)\">summary.csv</a></p></section>"
        return s
    }

    private static func gallery(_ cards: [Card], page: Int, pages: Int) -> String {
        var s = "<section id=\"gallery\"><h2>Gallery: page \(page) of \(pages) (\(cards.count) images, input order)</h2>"
        let pager = "<nav class=\"pager\">" + (1...pages).map { p in
            p == page ? "<b>\(p)</b>" : "<a href=\"\(galleryFile(p))\">\(p)</a>"
        }.joined(separator: " ") + "</nav>"
        if pages > 1 { s += pager }
        let start = (page - 1) * pageSize
        s += "<div class=\"cards\">" + cards[min(start, cards.count)..<min(start + pageSize, cards.count)].map(\.html).joined() + "</div>"
        if pages > 1 { s += pager }
        return s + "</section>"
    }

    static func document(title: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTML.escape(title))</title>
        <style>
        body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1280px;padding:0 16px;color:#1d1d1f;background:#fff}
        h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
        .lead{font-size:15px}table{border-collapse:collapse}th,td{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}
        th:first-child,#errors-table td,#settings-table td{text-align:left}
        .plots{display:flex;flex-wrap:wrap;gap:16px}.plot .area{fill:#fafafa;stroke:#ccc}.plot .bar{fill:#4a7bd0}
        .plot .points{fill:#4a7bd0;fill-opacity:.6}.plot .guide{stroke:#d04a4a;stroke-dasharray:4 3}.plot .tick{font-size:10px;fill:#555}
        .plot .label{font-size:12px}.plot .curve{stroke:#4a7bd0;stroke-width:1.5}.cards{display:flex;flex-wrap:wrap;gap:10px}.card{margin:0;width:\(Thumbnails.width)px}
        .card img{width:100%;height:auto;border:1px solid #ddd;background:#f4f4f4}.card figcaption{font-size:12px;word-break:break-all}
        .pager{margin:8px 0}pre{font-size:13px;background:#f6f6f6;padding:12px}.sheet{image-rendering:pixelated;border:1px solid #ddd}.pager a,.pager b{padding:0 4px}
        </style></head><body>
        \(body)
        <footer><p>Made by <code>ign</code>.</p></footer>
        </body></html>

        """
    }
}
