import Engine
import Foundation
import Imaging
import Pipeline
import Report
import XCTest

/// report.html of real pipeline runs, rendered by a real headless Chromium (Debian's `chromium`,
/// installed by `scripts/install-deps`).
final class ReportTests: XCTestCase {
    private final class Marker {}
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("ign-report-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// Names a report must escape in text and in links.
    static let hostileNames = ["a <b> & \"q\" 'x'.png", "café über.png", "100% #1?.png", "plain.png"]

    /// `ign run` over real images (one broken) writes a report whose every image exists, whose plots
    /// are drawn, whose figures are summary.json's, and which Chromium renders as a non-blank page.
    func testRunReportRendersInChromium() throws {
        let input = folder.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: input.appendingPathComponent("sub dir"), withIntermediateDirectories: true)
        var names = Self.hostileNames + (0..<8).map { "sub dir/img\($0).png" }
        for (i, name) in names.enumerated() { try image(seed: i).write(to: input.appendingPathComponent(name)) }
        try Data("not a png".utf8).write(to: input.appendingPathComponent("broken <1>.png"))
        names.sort()
        let out = folder.appendingPathComponent("out")
        let job = """
            input: \(input.path)
            output: \(out.path)
            model: fashion28
            fit: cover
            corrupt: [noise:0.1]
            write: [output, strip]
            metrics: [drift, distance, psnr, ssim]
            """
        try job.write(to: folder.appendingPathComponent("job.yaml"), atomically: true, encoding: .utf8)
        let status = try ign(["run", folder.appendingPathComponent("job.yaml").path, "--quiet"])
        XCTAssertEqual(status, 3, "one input is broken")
        let page = out.appendingPathComponent(RunPage.fileName)
        XCTAssertTrue(FileManager.default.fileExists(atPath: page.path), "ign run writes the report")

        let dom = try chromium(["--dump-dom", "--virtual-time-budget=3000", page.absoluteString])
        // Every image the page shows exists, at the path its (percent-encoded) link names.
        let sources = matches(#"<img src="([^"]+)""#, in: dom)
        XCTAssertEqual(sources.count, 3 * names.count, "gallery + highest drift + largest PSNR loss")
        for source in Set(sources) {
            let path = try XCTUnwrap(unescape(source).removingPercentEncoding)
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(path).path), "missing \(path)")
        }
        // Each name appears escaped as text (never as markup) and links to its own strip.
        for name in names {
            XCTAssertTrue(dom.contains("<b>\(escapeText(name))</b>"), "caption of \(name)")
            let strip = (name as NSString).deletingPathExtension + ".strip.png"
            XCTAssertTrue(Set(matches(#"<a href="([^"]+)""#, in: dom)).contains { unescape($0).removingPercentEncoding == strip }, strip)
        }
        XCTAssertTrue(dom.contains("broken &lt;1&gt;.png"), "the failure is listed, escaped")
        for id in ["plot-drift", "plot-psnr", "plot-gain"] { XCTAssertTrue(dom.contains("<svg id=\"\(id)\""), id) }

        // The page's figures are summary.json's.
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as? [String: Any])
        let metrics = try XCTUnwrap(summary["metrics"] as? [String: [String: Double]])
        let cells = matches(#"data-metric="([^"]+)" data-stat="([^"]+)" data-value="([^"]*)""#, in: dom, groups: 3)
        XCTAssertEqual(cells.count, metrics.count * 5)
        for cell in cells {
            XCTAssertEqual(Double(cell[2]), metrics[cell[0]]?[cell[1]], "\(cell[0]) \(cell[1])")
        }
        XCTAssertTrue(dom.contains("data-images=\"\(names.count)\"") && dom.contains("data-failures=\"1\""))

        // Rendered, the page is not blank.
        let shot = folder.appendingPathComponent("shot.png")
        _ = try chromium(["--screenshot=\(shot.path)", "--window-size=1200,1600", page.absoluteString])
        let pixels = try ImageLoader().load(shot, channels: 1).pixels
        let dark = pixels.filter { $0 < 0 }.count
        XCTAssertGreaterThan(Double(dark) / Double(pixels.count), 0.01, "text, plots and thumbnails on the page")

        // The run wrote the thumbnails; `ign report` rebuilds the same page (no new thumbnails), keeping the run's timing.
        let first = try String(contentsOf: page, encoding: .utf8)
        try FileManager.default.removeItem(at: page)
        XCTAssertEqual(try ign(["report", out.path]), 0)
        XCTAssertEqual(try String(contentsOf: page, encoding: .utf8), first)
    }

    /// `ign train` logs every progress line to OUTPUT.train.jsonl (a resumed run continues it
    /// without repeats); `ign report OUTPUT.safetensors` draws the loss curves and a sample grid
    /// per snapshot, and Chromium finds every picture.
    func testTrainingLogAndPage() throws {
        var values = [Float](repeating: -1, count: 64 * 784)
        for i in 0..<64 { for y in 0..<28 { for x in (i % 20)..<(i % 20 + 6) { values[i * 784 + y * 28 + x] = 1 } } }
        let data = folder.appendingPathComponent("data.npy")
        try NPY.write(values, shape: [64, 1, 28, 28], to: data)
        let model = folder.appendingPathComponent("m.safetensors")
        XCTAssertEqual(try ign(["train", "--data", data.path, "--arch", "tiny28", "--batch", "16", "--steps", "6", "--log-every", "1",
                                "--checkpoint-every", "4", "--snapshot-every", "3", "--threads", "1", "--output", model.path]), 0)
        XCTAssertEqual(try ign(["train", "--resume", folder.appendingPathComponent("m.ckpt.safetensors").path, "--steps", "8",
                                "--log-every", "1", "--threads", "1", "--output", model.path]), 0)
        let log = try String(contentsOf: folder.appendingPathComponent("m.train.jsonl"), encoding: .utf8)
        let steps = log.split(separator: "\n").map { line -> Int in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertNotNil(object?["rec"] as? Double, String(line))
            return object?["step"] as? Int ?? -1
        }
        XCTAssertEqual(steps, Array(1...8), "one history, resumed from the checkpoint at step 6")
        XCTAssertEqual(try ign(["report", model.path, "--threads", "1"]), 0)
        let page = folder.appendingPathComponent("m.train.html")
        let dom = try chromium(["--dump-dom", page.absoluteString])
        for id in ["plot-rec", "plot-idem", "plot-tight", "plot-total"] { XCTAssertTrue(dom.contains("<svg id=\"\(id)\""), id) }
        let sources = matches(#"<img src="([^"]+)""#, in: dom)
        XCTAssertEqual(sources.count, 2, "snapshots at steps 3 and 6")
        for source in sources {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(unescape(source).removingPercentEncoding!).path), source)
        }

        // `ign eval --html`: the table and its two sheets.
        let evalPage = folder.appendingPathComponent("eval m.html")
        XCTAssertEqual(try ign(["eval", "--model", model.path, "--data", data.path, "--samples", "0", "--threads", "1", "--html", evalPage.path]), 0)
        let evalDOM = try chromium(["--dump-dom", evalPage.absoluteString])
        XCTAssertTrue(evalDOM.contains("<pre id=\"table\">") && evalDOM.contains("reconstruction"), evalDOM)
        let sheets = matches(#"<img id="[a-z]+" src="([^"]+)""#, in: evalDOM)
        XCTAssertEqual(sheets.count, 2)
        for sheet in sheets {
            let file = folder.appendingPathComponent(unescape(sheet).removingPercentEncoding!)
            XCTAssertGreaterThan(try ImageLoader().load(file).width, 28, sheet)
        }
    }

    /// Paged: 250 images give 3 gallery pages of at most 96, each linking the others.
    func testGalleryIsPaged() throws {
        let out = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        var metrics = ""
        for i in 0..<250 {
            var r = ImageRecord(path: String(format: "i%03d.png", i), output: String(format: "i%03d.png", i), width: 4, height: 4, corruption: "")
            r.drift = Double(i) / 250
            metrics += r.jsonLine + "\n"
        }
        try metrics.write(to: out.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        try #"{"write":"output","fit":"cover"}"#.write(to: out.appendingPathComponent("pipeline.json"), atomically: true, encoding: .utf8)
        let records = metrics.split(separator: "\n").compactMap { ImageRecord(jsonLine: $0) }
        try RunSummary(records: records, failures: 0).json.write(to: out.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
        let outcome = try RunPage.build(folder: out)
        XCTAssertEqual(outcome.pages, 3)
        XCTAssertEqual(outcome.thumbnailsMade, 0, "the outputs do not exist here: nothing to shrink")
        let main = try String(contentsOf: outcome.page, encoding: .utf8)
        XCTAssertTrue(main.contains("href=\"report-gallery-3.html\""))
        let third = try String(contentsOf: out.appendingPathComponent("report-gallery-3.html"), encoding: .utf8)
        XCTAssertEqual(matches(#"<figure class="card">"#, in: third).count, 250 - 2 * 96)
        XCTAssertTrue(main.contains("i249.png"), "the highest drift is on the first page")
    }

    // MARK: Helpers

    private func image(seed: Int) throws -> PlanarImage {
        var pixels = [Float](repeating: 0, count: 3 * 40 * 48)
        for i in pixels.indices { pixels[i] = sinf(Float(i % 48) / 5 + Float(seed)) * cosf(Float(i / 48) / 7) * 0.8 }
        return try PlanarImage(width: 48, height: 40, channels: 3, pixels: pixels)
    }

    private var executable: URL {
        let bundle = Bundle(for: Marker.self).bundleURL
        let candidates = [bundle.deletingLastPathComponent().appendingPathComponent("ign"), bundle.appendingPathComponent("ign")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    private func ign(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs headless Chromium; its stdout.
    private func chromium(_ arguments: [String]) throws -> String {
        let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else {
            XCTFail("Debian's chromium is needed to render reports: run scripts/install-deps")
            throw CocoaError(.fileNoSuchFile)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(folder.appendingPathComponent("chromium").path)"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "chromium \(arguments)")
        return String(decoding: data, as: UTF8.self)
    }

    private func matches(_ pattern: String, in text: String) -> [String] {
        matches(pattern, in: text, groups: 1).map { $0.first ?? "" }
    }

    private func matches(_ pattern: String, in text: String, groups: Int) -> [[String]] {
        let regex = try! NSRegularExpression(pattern: pattern)
        let ns = text as NSString
        return regex.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { m in
            (0..<groups).map { m.numberOfRanges > $0 + 1 ? ns.substring(with: m.range(at: $0 + 1)) : ns.substring(with: m.range) }
        }
    }

    /// Chromium's serialisation of text: & < > escaped.
    private func escapeText(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// An attribute value as Chromium serialises it, back to its characters.
    private func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
    }
}
