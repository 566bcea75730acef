import Basics
import CVips
import Foundation
import XCTest
@testable import Imaging

final class WritingTests: ImagingTestCase {
    func randomImage(width: Int, height: Int, channels: Int, seed: UInt64) throws -> PlanarImage {
        var rng = RandomSource(seed: seed)
        return try image(width: width, height: height, channels: channels) { _, _, _ in
            Float(Double(rng.next() % 1_000_001) / 500_000 - 1)
        }
    }

    func testPNGRoundTripIsWithinOneLevel() throws {
        for channels in [1, 3] {
            let original = try randomImage(width: 33, height: 17, channels: channels, seed: UInt64(channels))
            let file = url("round\(channels).png")
            try ImageWriter().write(original, to: file)
            let back = try ImageLoader().load(file)
            XCTAssertEqual(back.channels, channels)
            // Within half an 8-bit level of the float input, and exactly its quantisation.
            XCTAssertLessThanOrEqual(maxAbsDifference(back, original), byteStep / 2 + 1e-6)
            assertSameImage(back, original.quantized())
        }
    }

    func testEveryFormatWritesAndReadsBack() throws {
        let original = try image(width: 40, height: 24, channels: 3) { c, y, x in
            Float(sin(Double(x) * 0.2 + Double(c)) * cos(Double(y) * 0.15)) * 0.8
        }
        for ext in ["png", "jpg", "jpeg", "webp", "tif", "tiff", "PNG"] {
            let file = url("out.\(ext)")
            try original.write(to: file)
            let back = try ImageLoader().load(file)
            XCTAssertEqual(back.width, 40, ext)
            XCTAssertGreaterThan(try Metrics.psnr(back, original), 30, ext)
        }
        let tiff = try ImageLoader().load(url("out.tif"))
        assertSameImage(tiff, original.quantized())
        let lossless = try ImageWriter(webpLossless: true).encode(original, as: .webp)
        assertSameImage(try ImageLoader().load(data: lossless), original.quantized())
        XCTAssertEqual(ImageFormat(pathExtension: "JPG"), .jpeg)
        XCTAssertNil(ImageFormat(pathExtension: "bmp"))
    }

    func testWriteIsAtomicAndLeavesNothingBehindOnFailure() throws {
        let picture = try PlanarImage(width: 8, height: 8, channels: 3, fill: 0.5)
        let target = url("a.png")
        try Data("old".utf8).write(to: target)
        try picture.write(to: target)
        XCTAssertEqual(try ImageLoader().load(target), picture.quantized())
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["a.png"])

        // Renaming over a directory fails: the temporary file must be removed.
        let blocked = url("blocked.png")
        try FileManager.default.createDirectory(at: blocked, withIntermediateDirectories: false)
        assertImagingError(.writeFailed) { try picture.write(to: blocked) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(), ["a.png", "blocked.png"])

        assertImagingError(.writeFailed) { try picture.write(to: self.url("missing-dir/x.png")) }
        assertImagingError(.invalidArgument) { try picture.write(to: self.url("x.bmp")) }
        assertImagingError(.writeFailed) { try ImageWriter(jpegQuality: 0).write(picture, to: self.url("q.jpg")) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(), ["a.png", "blocked.png"])
        // The earlier good file is intact.
        XCTAssertEqual(try ImageLoader().load(target), picture.quantized())
    }

    func testByteMapping() throws {
        XCTAssertEqual(PlanarImage.value(fromByte: 0), -1)
        XCTAssertEqual(PlanarImage.value(fromByte: 255), 1)
        for b in 0...255 {
            XCTAssertEqual(PlanarImage.byte(fromValue: PlanarImage.value(fromByte: UInt8(b))), UInt8(b))
        }
        XCTAssertEqual(PlanarImage.byte(fromValue: 3), 255)
        XCTAssertEqual(PlanarImage.byte(fromValue: -3), 0)
        XCTAssertEqual(PlanarImage.byte(fromValue: .nan), 0)
        assertImagingError(.invalidArgument) { _ = try PlanarImage(width: 2, height: 2, channels: 3, pixels: [0]) }
        assertImagingError(.invalidArgument) { _ = try PlanarImage(width: 2, height: 2, channels: 2, fill: 0) }
        assertImagingError(.invalidArgument) { _ = try PlanarImage(width: 0, height: 2, channels: 1, fill: 0) }
    }
}
