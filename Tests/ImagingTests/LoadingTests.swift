import CVips
import Foundation
import XCTest
@testable import Imaging

final class LoadingTests: ImagingTestCase {
    func testRGBPNGMapsBytesToMinusOnePlusOne() throws {
        // white, black, red, mid-grey 128
        let bytes: [UInt8] = [255, 255, 255, 0, 0, 0, 255, 0, 0, 128, 128, 128]
        let file = try save(try vipsImage(bytes, width: 2, height: 2, bands: 3, interpretation: IGN_INTERPRETATION_SRGB), "rgb.png")
        let image = try ImageLoader().load(file)
        XCTAssertEqual(image.width, 2)
        XCTAssertEqual(image.height, 2)
        XCTAssertEqual(image.channels, 3)
        XCTAssertEqual(image[0, 0, 0], 1)
        XCTAssertEqual(image[2, 0, 0], 1)
        XCTAssertEqual(image[1, 0, 1], -1)
        XCTAssertEqual(image[0, 1, 0], 1)   // red: R = +1, G = B = -1
        XCTAssertEqual(image[1, 1, 0], -1)
        XCTAssertEqual(image[2, 1, 0], -1)
        XCTAssertEqual(image[0, 1, 1], 128 / 127.5 - 1, accuracy: 1e-6)
        // Planar layout: plane 1 (green) starts at width*height.
        XCTAssertEqual(image.pixels[4 + 2], -1)
    }

    func testAlphaIsFlattenedOntoWhite() throws {
        // red opaque, red fully transparent, black half transparent
        let bytes: [UInt8] = [255, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 128]
        let file = try save(try vipsImage(bytes, width: 3, height: 1, bands: 4, interpretation: IGN_INTERPRETATION_SRGB), "rgba.png")
        XCTAssertTrue(try ImageLoader().header(of: file).hasAlpha)
        let image = try ImageLoader().load(file)
        XCTAssertEqual(image.channels, 3)
        XCTAssertEqual([image[0, 0, 0], image[1, 0, 0], image[2, 0, 0]], [1, -1, -1])
        XCTAssertEqual([image[0, 0, 1], image[1, 0, 1], image[2, 0, 1]], [1, 1, 1])
        // 128/255 black over white = 127/255 → about 0
        XCTAssertEqual(image[1, 0, 2], 0, accuracy: 1.5 * byteStep)
    }

    func testSixteenBitPNG() throws {
        let samples: [UInt16] = [65535, 65535, 65535, 0, 0, 0, 32768, 32768, 32768, 65535, 0, 0]
        let file = try save(try vipsImage16(samples, width: 4, height: 1, bands: 3, interpretation: IGN_INTERPRETATION_RGB16), "deep.png")
        let image = try ImageLoader().load(file)
        XCTAssertEqual(image.channels, 3)
        XCTAssertEqual(image[0, 0, 0], 1, accuracy: 1e-6)
        XCTAssertEqual(image[0, 0, 1], -1, accuracy: 1e-6)
        XCTAssertEqual(image[1, 0, 2], 0, accuracy: byteStep)
        XCTAssertEqual(image[0, 0, 3], 1, accuracy: 1e-6)
        XCTAssertEqual(image[1, 0, 3], -1, accuracy: 1e-6)
    }

    func testSixteenBitGreyWithAlpha() throws {
        let samples: [UInt16] = [0, 65535, 0, 0]  // black opaque, black transparent
        let file = try save(try vipsImage16(samples, width: 2, height: 1, bands: 2, interpretation: IGN_INTERPRETATION_GREY16), "grey16a.png")
        let image = try ImageLoader().load(file)
        XCTAssertEqual(image.channels, 1)
        XCTAssertEqual(image.pixels, [-1, 1])
    }

    func testGreyscaleLoadsAsOneChannelOrReplicated() throws {
        let file = try save(try vipsImage([0, 255, 64, 200], width: 2, height: 2, bands: 1, interpretation: IGN_INTERPRETATION_B_W), "grey.png")
        let header = try ImageLoader().header(of: file)
        XCTAssertTrue(header.isGrey)
        XCTAssertEqual(header.loader, "pngload")
        let grey = try ImageLoader().load(file)
        XCTAssertEqual(grey.channels, 1)
        XCTAssertEqual(grey.pixels, [0, 255, 64, 200].map { PlanarImage.value(fromByte: $0) })
        let colour = try ImageLoader().load(file, channels: 3)
        XCTAssertEqual(colour.channels, 3)
        for c in 0..<3 {
            XCTAssertEqual(Array(colour.pixels[(c * 4)..<(c * 4 + 4)]), grey.pixels, accuracy: byteStep)
        }
    }

    func testColourToOneChannelIsLuminance() throws {
        let bytes = pattern(width: 16, height: 12)
        let file = try save(try vipsImage(bytes, width: 16, height: 12, bands: 3, interpretation: IGN_INTERPRETATION_SRGB), "c.png")
        let grey = try ImageLoader().load(file, channels: 1)
        XCTAssertEqual(grey.channels, 1)
        let colour = try ImageLoader().load(file)
        XCTAssertLessThanOrEqual(maxAbsDifference(grey, colour.luminance()), 1.01 * byteStep)
        // Pure green is much brighter than pure blue in luminance.
        let gb = try save(try vipsImage([0, 255, 0, 0, 0, 255], width: 2, height: 1, bands: 3, interpretation: IGN_INTERPRETATION_SRGB), "gb.png")
        let l = try ImageLoader().load(gb, channels: 1)
        XCTAssertGreaterThan(l.pixels[0], 0.5)
        XCTAssertLessThan(l.pixels[1], -0.3)
    }

    func testPalettePNGAndGIF() throws {
        // Flat blocks of four colours: a palette represents them exactly.
        let colours: [[UInt8]] = [[255, 0, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]
        var bytes = [UInt8]()
        for y in 0..<16 { for x in 0..<16 { bytes += colours[(y / 8) * 2 + x / 8] } }
        let source = try vipsImage(bytes, width: 16, height: 16, bands: 3, interpretation: IGN_INTERPRETATION_SRGB)
        let expected = try PlanarImage(width: 16, height: 16, channels: 3, interleavedBytes: bytes)
        let palette = try save(source, "palette.png[palette]")
        let gif = try save(source, "anim.gif")
        for file in [palette, gif] {
            let image = try ImageLoader().load(file)
            XCTAssertEqual(image.channels, 3, file.lastPathComponent)
            XCTAssertLessThan(maxAbsDifference(image, expected), 0.05, file.lastPathComponent)
        }
        XCTAssertEqual(try ImageLoader().header(of: gif).loader, "gifload")
    }

    func testJPEGWebPTIFF() throws {
        let bytes = pattern(width: 48, height: 32)
        let source = try vipsImage(bytes, width: 48, height: 32, bands: 3, interpretation: IGN_INTERPRETATION_SRGB)
        let expected = try PlanarImage(width: 48, height: 32, channels: 3, interleavedBytes: bytes)
        let tiff = try ImageLoader().load(try save(source, "p.tif"))
        assertSameImage(tiff, expected)
        for name in ["p.jpg[Q=95]", "p.webp[Q=95]"] {
            let image = try ImageLoader().load(try save(source, name))
            XCTAssertEqual(image.width, 48)
            XCTAssertGreaterThan(try Metrics.psnr(image, expected), 30, name)
        }
    }

    func testCMYKJPEGIsConvertedToSRGB() throws {
        var bytes = [UInt8]()
        for _ in 0..<8 { for x in 0..<16 { bytes += x < 8 ? [255, 255, 255] : [200, 30, 30] } }
        let rgb = try vipsImage(bytes, width: 16, height: 8, bands: 3, interpretation: IGN_INTERPRETATION_SRGB)
        let cmyk = try rgb.apply("to cmyk") { ign_vips_colourspace($0, $1, IGN_INTERPRETATION_CMYK) }
        XCTAssertEqual(cmyk.bands, 4)
        let file = try save(cmyk, "cmyk.jpg[Q=95]")
        let header = try ImageLoader().header(of: file)
        XCTAssertEqual(header.bands, 4)
        XCTAssertFalse(header.hasAlpha)
        let image = try ImageLoader().load(file)
        XCTAssertEqual(image.channels, 3)
        // White stays (near) white; the red half stays reddish.
        XCTAssertGreaterThan(image[0, 4, 2], 0.9)
        XCTAssertGreaterThan(image[2, 4, 2], 0.9)
        XCTAssertGreaterThan(image[0, 4, 12], image[1, 4, 12] + 0.5)
        XCTAssertGreaterThan(image[0, 4, 12], image[2, 4, 12] + 0.5)
    }

    func testTruncatedPNGAndJPEGAreErrors() throws {
        try Vips.silenceWarnings()
        defer { try? Vips.silenceWarnings(false) }
        let bytes = randomBytes(96 * 96 * 3, seed: 7)
        let source = try vipsImage(bytes, width: 96, height: 96, bands: 3, interpretation: IGN_INTERPRETATION_SRGB)
        for name in ["t.png", "t.jpg"] {
            let file = try save(source, name)
            XCTAssertNoThrow(try ImageLoader().load(file))
            let whole = try Data(contentsOf: file)
            try whole.prefix(whole.count / 2).write(to: file)
            do {
                _ = try ImageLoader().load(file)
                XCTFail("\(name): a truncated file loaded")
            } catch let error as ImagingError {
                XCTAssertEqual(error.code, .truncated, "\(error)")
                XCTAssertEqual(error.path, file.path)
                XCTAssertFalse(error.message.isEmpty)
            }
            // The error buffer was cleared: the next good load reports nothing stale.
            XCTAssertEqual(Vips.takeError(), "")
        }
    }

    /// libjpeg only warns about a damaged scan (here an end-of-image marker halfway through
    /// it); without failing on warnings the rest would decode as grey and count as loaded.
    func testJPEGWithADamagedScanIsAnError() throws {
        try Vips.silenceWarnings()
        defer { try? Vips.silenceWarnings(false) }
        let file = try save(try vipsImage(pattern(width: 64, height: 64), width: 64, height: 64, bands: 3,
                                          interpretation: IGN_INTERPRETATION_SRGB), "scan.jpg")
        XCTAssertNoThrow(try ImageLoader().load(file))
        try damagedScan(file)
        XCTAssertEqual(try ImageLoader().header(of: file).width, 64, "the header is intact")
        do {
            _ = try ImageLoader().load(file)
            XCTFail("a JPEG with a damaged scan loaded")
        } catch let error as ImagingError {
            XCTAssertEqual(error.code, .truncated, "\(error)")
            XCTAssertTrue(error.message.contains("Corrupt JPEG data"), error.message)
        }
    }

    /// Puts an end-of-image marker in the middle of a JPEG's entropy-coded scan.
    func damagedScan(_ file: URL) throws {
        var bytes = [UInt8](try Data(contentsOf: file))
        let scan = try XCTUnwrap((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xDA })
        let middle = (scan + bytes.count) / 2
        bytes[middle] = 0xFF
        bytes[middle + 1] = 0xD9
        try Data(bytes).write(to: file)
    }

    /// Failures of many kinds at once, on many threads: each carries the message it has alone
    /// (libvips' error buffer is shared by the process).
    func testConcurrentFailuresEachCarryTheirOwnMessage() throws {
        try Vips.silenceWarnings()
        defer { try? Vips.silenceWarnings(false) }
        var files: [URL] = []
        for i in 0..<8 {
            let size = 48 + 8 * i
            let source = try vipsImage(randomBytes(size * size * 3, seed: UInt64(i)), width: size, height: size, bands: 3,
                                       interpretation: IGN_INTERPRETATION_SRGB)
            for format in ["png", "jpg"] {
                let file = try save(source, "\(i).\(format)")
                let whole = try Data(contentsOf: file)
                try whole.prefix(whole.count * (i + 2) / 12).write(to: file)
                files.append(file)
            }
            let damaged = try save(source, "\(i)-scan.jpg")
            try damagedScan(damaged)
            let text = url("\(i).txt")
            try Data("not an image \(i)".utf8).write(to: text)
            files += [damaged, text]
        }
        func message(_ file: URL) -> String {
            do {
                _ = try ImageLoader().load(file)
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        let alone = files.map(message)
        XCTAssertFalse(alone.contains("loaded"))
        XCTAssertTrue(alone.allSatisfy { $0.split(separator: ":").count > 2 }, "libvips' own text is there: \(alone)")
        let lock = NSLock()
        var together = [String](repeating: "", count: 4 * files.count)
        DispatchQueue.concurrentPerform(iterations: together.count) { i in
            let text = message(files[i % files.count])
            lock.lock()
            together[i] = text
            lock.unlock()
        }
        for (i, text) in together.enumerated() { XCTAssertEqual(text, alone[i % files.count], files[i % files.count].lastPathComponent) }
    }

    func testNotImagesAndUnreadableFiles() throws {
        let empty = url("empty.png")
        try Data().write(to: empty)
        assertImagingError(.notAnImage) { _ = try ImageLoader().load(empty) }
        let text = url("notes.png")
        try Data("this is not a PNG file at all\n".utf8).write(to: text)
        assertImagingError(.notAnImage) { _ = try ImageLoader().load(text) }
        assertImagingError(.unreadable) { _ = try ImageLoader().load(self.url("missing.png")) }
        assertImagingError(.unreadable) { _ = try ImageLoader().load(self.directory) }
        assertImagingError(.invalidArgument) {
            let file = try self.save(try self.vipsImage([1, 2, 3], width: 1, height: 1, bands: 3,
                                                        interpretation: IGN_INTERPRETATION_SRGB), "one.png")
            _ = try ImageLoader().load(file, channels: 2)
        }
    }

    func testPixelLimitIsCheckedFromTheHeader() throws {
        var black: OpaquePointer?
        XCTAssertEqual(ign_vips_black(&black, 100, 100, 1), 0)
        let file = try save(VImage(black!), "big.png")
        assertImagingError(.tooLarge) { _ = try ImageLoader(maxPixels: 1000).load(file) }
        assertImagingError(.tooLarge) { _ = try ImageLoader(maxPixels: 9999).header(of: file) }
        let data = try Data(contentsOf: file)
        assertImagingError(.tooLarge) { _ = try ImageLoader(maxPixels: 1000).load(data: data) }
        let ok = try ImageLoader(maxPixels: 10_000).load(file)
        XCTAssertEqual(ok.pixels.count, 10_000)
        XCTAssertEqual(ImageLoader().maxPixels, 100_000_000)
    }

    func testBracketsInFileNamesAreNotOptions() throws {
        let picture = try PlanarImage(width: 6, height: 4, channels: 3, fill: 0.5)
        let odd = url("holiday [1].png")
        try picture.write(to: odd)
        XCTAssertTrue(FileManager.default.fileExists(atPath: odd.path))
        XCTAssertEqual(try ImageLoader().load(odd), picture.quantized())
        XCTAssertEqual(try ImageLoader().header(of: odd).loader, "pngload")
        let text = url("notes [2].png")
        try Data("plain text".utf8).write(to: text)
        assertImagingError(.notAnImage) { _ = try ImageLoader().load(text) }
    }

    func testFormatsWithoutSourceLoaderFallBackToFileLoader() throws {
        // BMP goes through ImageMagick (magickload has no source loader in libvips 8.14).
        let bytes: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]
        let file = url("p.bmp")
        let source = try vipsImage(bytes, width: 2, height: 2, bands: 3, interpretation: IGN_INTERPRETATION_SRGB)
        guard ign_vips_write_to_file(source.pointer, file.path) == 0 else {
            _ = Vips.takeError()
            throw XCTSkip("this libvips cannot write BMP")
        }
        XCTAssertEqual(try ImageLoader().header(of: file).loader, "magickload")
        let image = try ImageLoader().load(file)
        assertSameImage(image, try PlanarImage(width: 2, height: 2, channels: 3, interleavedBytes: bytes))
    }

    func testConcurrentLoadsAndErrorsStayApart() throws {
        let good = try save(try vipsImage(pattern(width: 40, height: 30), width: 40, height: 30, bands: 3,
                                          interpretation: IGN_INTERPRETATION_SRGB), "good.png")
        let bad = url("bad.png")
        try Data("not an image".utf8).write(to: bad)
        let expected = try ImageLoader().load(good)
        let lock = NSLock()
        var outcomes = [String](repeating: "", count: 32)
        DispatchQueue.concurrentPerform(iterations: 32) { i in
            var outcome: String
            do {
                let image = try ImageLoader().load(i % 2 == 0 ? good : bad)
                let noisy = try Corruption.noise(sigma: 0.1).apply(to: image, seed: 5)
                outcome = image == expected && noisy == (try? Corruption.noise(sigma: 0.1).apply(to: expected, seed: 5))
                    ? "ok" : "wrong pixels"
            } catch let error as ImagingError {
                outcome = error.code == .notAnImage && error.path == bad.path ? "notAnImage" : "\(error)"
            } catch {
                outcome = "\(error)"
            }
            lock.lock()
            outcomes[i] = outcome
            lock.unlock()
        }
        for (i, outcome) in outcomes.enumerated() {
            XCTAssertEqual(outcome, i % 2 == 0 ? "ok" : "notAnImage", "iteration \(i)")
        }
    }

    func testLoadFromMemory() throws {
        let bytes = pattern(width: 20, height: 10)
        let file = try save(try vipsImage(bytes, width: 20, height: 10, bands: 3, interpretation: IGN_INTERPRETATION_SRGB), "m.png")
        var data = try Data(contentsOf: file)
        let fromMemory = try ImageLoader().load(data: data, name: "m")
        data.resetBytes(in: 0..<data.count)  // the loader must not depend on the caller's buffer
        assertSameImage(fromMemory, try ImageLoader().load(file))
        assertImagingError(.notAnImage) { _ = try ImageLoader().load(data: Data("nope".utf8)) }
        assertImagingError(.notAnImage) { _ = try ImageLoader().load(data: Data()) }
        let whole = try Data(contentsOf: try save(try vipsImage(randomBytes(64 * 64 * 3, seed: 1), width: 64, height: 64,
                                                                bands: 3, interpretation: IGN_INTERPRETATION_SRGB), "r.png"))
        assertImagingError(.truncated) { _ = try ImageLoader().load(data: whole.prefix(whole.count / 2)) }
    }
}

func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
