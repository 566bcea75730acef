import Foundation
import XCTest
@testable import Imaging

/// The images shipped in samples/ load cleanly (real JPEG/PNG files, not made by the tests).
final class SamplesTests: ImagingTestCase {
    var samples: URL {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("samples")
    }

    func files(_ folder: String) throws -> [URL] {
        let dir = samples.appendingPathComponent(folder)
        guard FileManager.default.fileExists(atPath: dir.path) else { throw XCTSkip("no \(dir.path)") }
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
            .filter { ImageFormat(pathExtension: ($0 as NSString).pathExtension) != nil }
            .map { dir.appendingPathComponent($0) }
    }

    func testPhotosLoadAndAreSmall() throws {
        let photos = try files("photos")
        XCTAssertGreaterThanOrEqual(photos.count, 5)
        for file in photos {
            let image = try ImageLoader().load(file, channels: 3)
            XCTAssertLessThanOrEqual(max(image.width, image.height), 256, file.lastPathComponent)
            XCTAssertGreaterThan(image.pixels.max()! - image.pixels.min()!, 0.3, "\(file.lastPathComponent) is blank")
        }
    }

    func testFashionSamplesAre64GreyDigits() throws {
        let fashion = try files("fashion")
        XCTAssertEqual(fashion.map(\.lastPathComponent), (0..<64).map { String(format: "%03d.png", $0) })
        for file in fashion {
            let header = try ImageLoader().header(of: file)
            XCTAssertEqual([header.width, header.height, header.bands], [28, 28, 1], file.lastPathComponent)
            XCTAssertTrue(header.isGrey)
        }
        // Fashion-MNIST: dark background, bright garment.
        let first = try ImageLoader().load(fashion[0])
        XCTAssertEqual(first[0, 0, 0], -1)
        XCTAssertGreaterThan(first.pixels.max()!, 0.4)
    }
}
