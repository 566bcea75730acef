import Foundation
import XCTest
@testable import Imaging

final class ContactSheetTests: ImagingTestCase {
    func testGridLayoutScaleAndBackground() throws {
        let cells = try (0..<5).map { i in try PlanarImage(width: 3, height: 2, channels: 1, fill: -1 + Float(i) * 0.1) }
        let sheet = try ContactSheet(columns: 3, padding: 1, scale: 2).compose(cells)
        // 3 columns of 6 px + 4 gaps; 2 rows of 4 px + 3 gaps.
        XCTAssertEqual([sheet.width, sheet.height, sheet.channels], [22, 11, 1])
        XCTAssertEqual(sheet[0, 0, 0], 1)                       // background is white
        XCTAssertEqual(sheet[0, 1, 1], -1)                      // first cell
        XCTAssertEqual(sheet[0, 4, 6], -1)                      // still first cell (upscaled)
        XCTAssertEqual(sheet[0, 1, 7], 1)                       // gap
        XCTAssertEqual(sheet[0, 1, 8], -0.9, accuracy: 1e-6)    // second cell
        XCTAssertEqual(sheet[0, 6, 8], -0.6, accuracy: 1e-6)    // fifth cell: row 2, column 2
        XCTAssertEqual(sheet[0, 6, 15], 1)                      // sixth cell is empty

        // Mixed channels become colour; explicit rows must fit.
        let mixed = try ContactSheet(columns: 2, rows: 1, padding: 0).compose(
            [try PlanarImage(width: 2, height: 2, channels: 1, fill: 0), try PlanarImage(width: 2, height: 2, channels: 3, fill: 0.5)])
        XCTAssertEqual([mixed.width, mixed.height, mixed.channels], [4, 2, 3])
        XCTAssertEqual(mixed[2, 1, 3], 0.5)
        assertImagingError(.invalidArgument) { _ = try ContactSheet(columns: 1, rows: 1).compose(cells) }
        assertImagingError(.invalidArgument) { _ = try ContactSheet(columns: 2).compose([]) }
        assertImagingError(.invalidArgument) {
            _ = try ContactSheet(columns: 2).compose([cells[0], try PlanarImage(width: 4, height: 2, channels: 1, fill: 0)])
        }
    }
}
