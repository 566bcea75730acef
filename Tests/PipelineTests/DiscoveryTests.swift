import Foundation
@testable import Pipeline
import XCTest

/// Finding the inputs: recursion, order, globs, links.
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
}
