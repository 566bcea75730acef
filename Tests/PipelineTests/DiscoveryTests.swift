import Foundation
@testable import Pipeline
import XCTest

final class DiscoveryTests: XCTestCase {
    override class func tearDown() {
        Fixtures.removeAll()
        super.tearDown()
    }

    func testFilesAreFoundRecursivelyInSortedOrderWithGlobsAndNoLinksOrHiddenFiles() throws {
        let root = try Fixtures.folder()
        for path in ["b.png", "a/z.jpg", "a/b/c.png", "a.png", "A.png", "c/.hidden.png", ".git/x.png", "notes.txt"] {
            try Fixtures.write(Data([1]), path, in: root)
        }
        let elsewhere = try Fixtures.folder("elsewhere")
        try Fixtures.write(Data([1]), "linked.png", in: elsewhere)
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("link-dir"), withDestinationURL: elsewhere)
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("link.png"),
                                                   withDestinationURL: root.appendingPathComponent("b.png"))
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("a/loop"), withDestinationURL: root)

        XCTAssertEqual(try Discovery(root: root).run().files, ["A.png", "a.png", "a/b/c.png", "a/z.jpg", "b.png", "notes.txt"],
                       "sorted by UTF-8 bytes")
        let followed = try Discovery(root: root, followSymlinks: true).run().files
        XCTAssertEqual(followed, ["A.png", "a.png", "a/b/c.png", "a/z.jpg", "b.png", "link-dir/linked.png", "link.png", "notes.txt"],
                       "links followed, the loop back to the root entered no more than once")
        let filtered = Discovery(root: root, include: [try Glob("*.png"), try Glob("*.jpg")], exclude: [try Glob("a/b/**")])
        XCTAssertEqual(try filtered.run().files, ["A.png", "a.png", "a/z.jpg", "b.png"])
        let skipping = Discovery(root: root, skipping: root.appendingPathComponent("a"))
        XCTAssertEqual(try skipping.run().files, ["A.png", "a.png", "b.png", "notes.txt"])
        XCTAssertThrowsError(try Discovery(root: root.appendingPathComponent("missing")).run())
    }

    func testPathsThatWouldLeaveTheOutputFolderAreRefused() throws {
        let root = try Fixtures.folder()
        let tree = try OutputTree(root: root.appendingPathComponent("out").path)
        for path in ["../x.png", "a/../../x.png", "/etc/passwd", "a//b.png", "./a.png", "a/./b.png", "", "a/..", ".."] {
            XCTAssertThrowsError(try tree.url(for: path), path) { error in
                XCTAssertEqual((error as? InputFailure)?.code, "output")
            }
        }
        XCTAssertEqual(try tree.prepare("a/b/c.png").path, tree.root.path + "/a/b/c.png")
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: tree.root.path + "/a/b", isDirectory: &isDirectory) && isDirectory.boolValue)

        let outside = try Fixtures.folder("outside")
        try FileManager.default.createSymbolicLink(at: tree.root.appendingPathComponent("link"), withDestinationURL: outside)
        XCTAssertThrowsError(try tree.prepare("link/x.png")) { XCTAssertTrue("\($0)".contains("symbolic link"), "\($0)") }
        XCTAssertThrowsError(try tree.prepare("link/deeper/x.png"))
        try Data([1]).write(to: tree.root.appendingPathComponent("file"))
        XCTAssertThrowsError(try tree.prepare("file/x.png")) { XCTAssertTrue("\($0)".contains("not a folder"), "\($0)") }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside.path), [])
    }

    func testStaleTemporariesAreRemovedAndNothingElse() throws {
        let root = try Fixtures.folder()
        let tree = try OutputTree(root: root.path)
        for path in ["a/.x.png.123.tmp", ".metrics.jsonl.99.tmp", "a/x.png", "a/.keep", "a/.x.tmp"] {
            try Fixtures.write(Data([1]), path, in: root)
        }
        tree.removeStaleTemporaries()
        XCTAssertEqual(Set(Fixtures.contents(of: root).keys), ["a/x.png", "a/.keep", "a/.x.tmp"])
    }

    func testClashingOutputNamesKeepTheInputExtension() {
        let plan = OutputPlan(files: ["a/x.jpg", "a/x.png", "a/y.jpg", "b/x.jpg", "c.corrupted.jpg", "c.jpg"],
                              artifacts: [.output, .corrupted], format: .png)
        XCTAssertEqual(plan.names["a/x.jpg"], [.output: "a/x.jpg.png", .corrupted: "a/x.jpg.corrupted.png"])
        XCTAssertEqual(plan.names["a/x.png"], [.output: "a/x.png.png", .corrupted: "a/x.png.corrupted.png"])
        XCTAssertEqual(plan.names["a/y.jpg"], [.output: "a/y.png", .corrupted: "a/y.corrupted.png"])
        XCTAssertEqual(plan.names["b/x.jpg"], [.output: "b/x.png", .corrupted: "b/x.corrupted.png"])
        XCTAssertEqual(plan.names["c.jpg"]?[.corrupted], "c.jpg.corrupted.png")
        XCTAssertEqual(plan.names["c.corrupted.jpg"]?[.output], "c.corrupted.jpg.png")
        let all = plan.names.values.flatMap(\.values)
        XCTAssertEqual(all.count, Set(all).count)
        XCTAssertEqual(OutputPlan(files: ["x.jpg"], artifacts: [], format: .png).names["x.jpg"], [:])
    }

    func testTornAndDuplicateLinesAreDropped() throws {
        let root = try Fixtures.folder()
        let url = root.appendingPathComponent("log.jsonl")
        try Data("{\"a\":1}\n{\"b\":2}\n{\"c\":".utf8).write(to: url)
        XCTAssertEqual(LineLog.readLines(url), ["{\"a\":1}", "{\"b\":2}"])
        let log = try LineLog(url)
        try LineLog.rewrite(url, lines: ["x"])
        XCTAssertEqual(LineLog.readLines(url), ["x"])
        _ = log
        var record = ImageRecord(path: "a \"q\"\n/b.png", output: "b.png", width: 3, height: 4, corruption: "noise:0.1")
        record.drift = 0.25
        record.psnrOut = .infinity
        XCTAssertEqual(ImageRecord(jsonLine: Substring(record.jsonLine)), record)
        XCTAssertNil(ImageRecord(jsonLine: Substring(record.jsonLine.dropLast(3))))
    }

    func testSummaryStatistics() {
        let records = (1...20).map { i -> ImageRecord in
            var r = ImageRecord(path: "\(i)", output: nil, width: 1, height: 1, corruption: "")
            r.drift = Double(i)
            r.psnrOut = i == 1 ? .infinity : 10
            return r
        }
        let summary = Summary(records: records, failures: 2)
        let drift = summary.statistics.first { $0.name == "drift" }!
        XCTAssertEqual([drift.mean, drift.median, drift.p95, drift.max], [10.5, 10.5, 19, 20])
        XCTAssertEqual(summary.statistics.first { $0.name == "psnr_out" }?.count, 19, "infinity left out")
        XCTAssertEqual(summary.driftCounts.reduce(0, +), 20)
        XCTAssertEqual(summary.driftEdges.last, 20)
        XCTAssertEqual(summary.statistics.map(\.name), ["drift", "psnr_out"])
        XCTAssertTrue(summary.json.contains("\"failures\": 2"))
    }
}
