import Basics
import CVips
import Foundation
import XCTest
@testable import Imaging

/// Test files made with libvips itself, in a fresh temporary directory per test case.
class ImagingTestCase: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        try Vips.initialize(concurrency: 1)
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("ign-imaging-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// A libvips image from interleaved samples (UInt8 or UInt16).
    func vipsImage(_ samples: [UInt8], width: Int, height: Int, bands: Int, interpretation: Int32) throws -> VImage {
        try vipsImage(samples, format: IGN_FORMAT_UCHAR, width: width, height: height, bands: bands, interpretation: interpretation)
    }

    func vipsImage16(_ samples: [UInt16], width: Int, height: Int, bands: Int, interpretation: Int32) throws -> VImage {
        try vipsImage(samples, format: IGN_FORMAT_USHORT, width: width, height: height, bands: bands, interpretation: interpretation)
    }

    private func vipsImage<T>(_ samples: [T], format: Int32, width: Int, height: Int, bands: Int,
                              interpretation: Int32) throws -> VImage {
        XCTAssertEqual(samples.count, width * height * bands)
        let raw = try samples.withUnsafeBytes { bytes in
            try VImage.make(.processingFailed, path: nil, "new") { out in
                ign_vips_new_from_memory_copy(bytes.baseAddress, bytes.count, Int32(width), Int32(height),
                                              Int32(bands), format, out)
            }
        }
        return try raw.apply("tag") { ign_vips_copy_interpretation($0, $1, interpretation) }
    }

    /// Saves with the saver libvips picks from `name` (options allowed: "x.png[palette]").
    @discardableResult
    func save(_ image: VImage, _ name: String) throws -> URL {
        let target = url(name)
        let status = ign_vips_write_to_file(image.pointer, target.path)
        if status != 0 { XCTFail("saving \(name) failed: \(Vips.takeError())") }
        // Options in brackets are not part of the file name.
        if let bracket = name.firstIndex(of: "[") { return url(String(name[..<bracket])) }
        return target
    }

    /// A smooth 8-bit RGB test pattern (interleaved).
    func pattern(width: Int, height: Int, bands: Int = 3) -> [UInt8] {
        var out = [UInt8]()
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<bands {
                    let v = 128 + 100 * sin(Double(x) * 0.21 + Double(c) * 1.3) * cos(Double(y) * 0.17 + Double(c))
                    out.append(UInt8(max(0, min(255, v.rounded()))))
                }
            }
        }
        return out
    }

    /// Pseudo-random bytes (incompressible, so a cut file is really truncated).
    func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = RandomSource(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    func assertImagingError(_ code: ImagingError.Code, file: StaticString = #filePath, line: UInt = #line,
                            _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected ImagingError.\(code), got success", file: file, line: line)
        } catch let error as ImagingError {
            XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
        } catch {
            XCTFail("expected ImagingError.\(code), got \(error)", file: file, line: line)
        }
    }

    /// Asserts two images are equal without printing every pixel on failure.
    func assertSameImage(_ a: PlanarImage, _ b: PlanarImage, tolerance: Float = 0,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels], file: file, line: line)
        guard a.pixels.count == b.pixels.count else { return }
        let worst = maxAbsDifference(a, b)
        XCTAssertLessThanOrEqual(worst, tolerance, "largest pixel difference", file: file, line: line)
    }

    func maxAbsDifference(_ a: PlanarImage, _ b: PlanarImage) -> Float {
        XCTAssertEqual(a.pixels.count, b.pixels.count)
        return zip(a.pixels, b.pixels).map { abs($0 - $1) }.max() ?? .infinity
    }

    func image(width: Int, height: Int, channels: Int, _ value: (Int, Int, Int) -> Float) throws -> PlanarImage {
        var pixels = [Float]()
        for c in 0..<channels { for y in 0..<height { for x in 0..<width { pixels.append(value(c, y, x)) } } }
        return try PlanarImage(width: width, height: height, channels: channels, pixels: pixels)
    }
}

/// One 8-bit step in [-1, 1] units.
let byteStep: Float = 2 / 255
