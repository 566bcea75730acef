import Foundation
@testable import Pipeline
import XCTest

/// The run's JSON-lines files and their records.
final class RecordsTests: XCTestCase {
    override class func tearDown() {
        Fixtures.removeAll()
        super.tearDown()
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
}
