import Foundation
@testable import Pipeline
import XCTest

/// The output folder: nothing written outside it, temporaries cleaned, names without clashes.
final class OutputTreeTests: XCTestCase {
    override class func tearDown() {
        Fixtures.removeAll()
        super.tearDown()
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
        let users = ["a/.x.png.123.tmp", ".metrics.jsonl.99.tmp", "a/x.png", "a/.keep", "a/.x.tmp", "a/.ign-tmp-0123"]
        for path in users + ["a/.ign-tmp-0123456789abcdef", ".ign-tmp-ffffffffffffffff"] {
            try Fixtures.write(Data([1]), path, in: root)
        }
        tree.removeStaleTemporaries()
        XCTAssertEqual(Set(Fixtures.contents(of: root).keys), Set(users), "only ign's own temporaries go")
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
}
