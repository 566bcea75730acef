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
        try Data("{\"a\":1}\n\n{\"b\":2}\n{\"c\":".utf8).write(to: url)
        func lines(_ url: URL) -> [String] {
            var lines: [String] = []
            LineLog.scanLines(url) { line, _ in lines.append(String(line)) }
            return lines
        }
        XCTAssertEqual(lines(url), ["{\"a\":1}", "{\"b\":2}"])
        let log = try LineLog(url)
        var refs: [LineRef] = []
        LineLog.scanLines(url) { _, bytes in refs.append(LineRef(file: 0, bytes: bytes)) }
        XCTAssertEqual(refs.map(\.bytes), [0..<7, 9..<16])
        try LineLog.rewrite(url, lines: refs.reversed(), of: LineFiles([url]))
        XCTAssertEqual(lines(url), ["{\"b\":2}", "{\"a\":1}"])
        _ = log
        var record = ImageRecord(path: "a \"q\"\n/b.png", output: "b.png", width: 3, height: 4, corruption: "noise:0.1")
        record.drift = 0.25
        record.psnrOut = .infinity
        XCTAssertEqual(ImageRecord(jsonLine: Substring(record.jsonLine)), record)
        XCTAssertNil(ImageRecord(jsonLine: Substring(record.jsonLine.dropLast(3))))
    }
}
