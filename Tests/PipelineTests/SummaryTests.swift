import Foundation
@testable import Pipeline
import XCTest

/// The statistics of `summary.json` and `summary.csv`.
final class SummaryTests: XCTestCase {
    func testStatisticsLeaveOutInfinitiesAndBinTheDrift() {
        let records = (1...20).map { i -> ImageRecord in
            var r = ImageRecord(path: "\(i)", output: nil, width: 1, height: 1, corruption: "")
            r.drift = Double(i)
            r.psnrOut = i == 1 ? .infinity : 10
            return r
        }
        let summary = RunSummary(records: records, failures: 2)
        let drift = summary.statistics.first { $0.name == "drift" }!
        XCTAssertEqual([drift.mean, drift.median, drift.p95, drift.max], [10.5, 10.5, 19, 20])
        XCTAssertEqual(summary.statistics.first { $0.name == "psnr_out" }?.count, 19, "infinity left out")
        XCTAssertEqual(summary.driftCounts.reduce(0, +), 20)
        XCTAssertEqual(summary.driftEdges.last, 20)
        XCTAssertEqual(summary.statistics.map(\.name), ["drift", "psnr_out"])
        XCTAssertTrue(summary.json.contains("\"failures\": 2"))
    }
}
