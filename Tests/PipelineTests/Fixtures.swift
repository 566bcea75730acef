import Foundation
import IGN
import Imaging
import XCTest

/// Real files for the pipeline tests: images in several formats and modes, broken files,
/// tiny models, and a way to run the built `ign`.
enum Fixtures {
    /// This test process's temporary folders live here; removed by ``removeAll()``.
    static let root = FileManager.default.temporaryDirectory
        .appendingPathComponent("ign-pipeline-tests-\(ProcessInfo.processInfo.processIdentifier)")

    /// A fresh temporary folder.
    static func folder(_ name: String = #function) throws -> URL {
        let url = root.appendingPathComponent(name.filter { $0.isLetter || $0.isNumber })
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Removes every temporary folder of this test process.
    static func removeAll() {
        try? FileManager.default.removeItem(at: root)
    }

    /// A model with random weights, saved in `folder`. The default, dcgan28 with one
    /// channel, is one whose eval outputs are bit-for-bit independent of the batch size in
    /// the engine (tiny28 and 3-channel dcgan28 are not: OpenBLAS takes other code paths
    /// for small matrices), which the tests of byte-identical results need.
    static func model(in folder: URL, architecture: Architecture = .dcgan28, channels: Int = 1) throws -> URL {
        let model = try IGNModel(architecture: architecture, channels: channels)
        model.initialize(seed: 1)
        let url = folder.appendingPathComponent("\(architecture.name)-\(channels).safetensors")
        try model.save(to: url)
        return url
    }

    /// A smooth test pattern that differs with `seed`.
    static func image(width: Int, height: Int, channels: Int = 3, seed: Int = 0) -> PlanarImage {
        var pixels = [Float](repeating: 0, count: channels * width * height)
        for c in 0..<channels {
            for y in 0..<height {
                for x in 0..<width {
                    let phase = Float(seed) * 0.7 + Float(c) * 1.3
                    pixels[(c * height + y) * width + x] = 0.8 * sinf(Float(x) / 4 + phase) * cosf(Float(y) / 5 - phase)
                }
            }
        }
        return try! PlanarImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// Writes a file, creating its folder.
    static func write(_ data: Data, _ path: String, in root: URL) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    /// Writes an image in the format its extension names.
    static func write(_ image: PlanarImage, _ path: String, in root: URL) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try image.write(to: url)
    }

    /// A nested tree of good images (JPEG, PNG grey/RGBA/palette, WebP, TIFF, 16-bit PGM) and
    /// bad files (truncated, corrupt, empty, not an image, too large for `maxPixels` 20,000),
    /// plus a hidden file that must be ignored. Returns the good and bad relative paths.
    static func mixedTree(at root: URL) throws -> (good: [String], bad: [String: String]) {
        try write(image(width: 40, height: 30, seed: 1), "a/b/photo.jpg", in: root)
        try write(image(width: 20, height: 24, channels: 1, seed: 2), "a/gray.png", in: root)
        try write(image(width: 60, height: 20, seed: 3), "a/c/deep/wide.webp", in: root)
        try write(image(width: 33, height: 29, seed: 4), "scan.tif", in: root)
        try write(TinyPNG.rgba(width: 16, height: 12), "rgba.png", in: root)
        try write(TinyPNG.palette(width: 18, height: 10), "palette.png", in: root)
        try write(pgm16(width: 14, height: 9), "gray16.pgm", in: root)

        let jpeg = try ImageWriter().encode(image(width: 64, height: 64, seed: 5), as: .jpeg)
        try write(jpeg.prefix(jpeg.count / 2), "bad/truncated.jpg", in: root)
        try write(Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + Data(repeating: 0xAB, count: 200), "bad/corrupt.png", in: root)
        try write(Data(), "bad/empty.png", in: root)
        try write(Data("not an image\n".utf8), "notes.txt", in: root)
        try write(image(width: 200, height: 150, seed: 6), "huge.png", in: root)
        try write(Data("ignored".utf8), ".hidden", in: root)
        return (["a/b/photo.jpg", "a/c/deep/wide.webp", "a/gray.png", "gray16.pgm", "palette.png", "rgba.png", "scan.tif"],
                ["bad/corrupt.png": "truncated", "bad/empty.png": "notAnImage", "bad/truncated.jpg": "truncated",
                 "huge.png": "tooLarge", "notes.txt": "notAnImage"])
    }

    /// A binary 16-bit PGM (big-endian samples, maxval 65535).
    static func pgm16(width: Int, height: Int) -> Data {
        var data = Data("P5\n\(width) \(height)\n65535\n".utf8)
        for y in 0..<height {
            for x in 0..<width {
                let v = UInt16((x * 4000 + y * 3000) % 65536)
                data.append(contentsOf: [UInt8(v >> 8), UInt8(v & 0xFF)])
            }
        }
        return data
    }

    /// Every file under `root` (hidden ones included) with its bytes, by relative path.
    /// Every file under `root` by relative path, except the report's pages and its timing: they
    /// show how long the last run took, so they differ between any two runs (ReportTests check them).
    static func contents(of root: URL) -> [String: Data] {
        var result: [String: Data] = [:]
        let walker = FileManager.default.enumerator(atPath: root.path)
        while let relative = walker?.nextObject() as? String {
            if relative == "report.html" || relative == "report/timing.json"
                || (relative.hasPrefix("report-gallery-") && relative.hasSuffix(".html")) { continue }
            var isDirectory: ObjCBool = false
            let path = root.appendingPathComponent(relative).path
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                result[relative] = FileManager.default.contents(atPath: path)
            }
        }
        return result
    }

    /// The lines of a text file.
    static func lines(_ url: URL) -> [String] {
        ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// The `ign` executable built next to the test bundle (on Linux the bundle URL is the
    /// build folder itself).
    static var ign: URL {
        let bundle = Bundle(for: Marker.self).bundleURL
        let candidates = [bundle.deletingLastPathComponent().appendingPathComponent("ign"), bundle.appendingPathComponent("ign")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    private final class Marker {}

    /// Starts `ign` with `arguments`; stdout and stderr go to files in `folder`.
    static func start(_ arguments: [String], in folder: URL) throws -> Process {
        let process = Process()
        process.executableURL = ign
        process.arguments = arguments
        process.currentDirectoryURL = folder
        _ = FileManager.default.createFile(atPath: folder.appendingPathComponent("stdout").path, contents: nil)
        _ = FileManager.default.createFile(atPath: folder.appendingPathComponent("stderr").path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: folder.appendingPathComponent("stdout"))
        process.standardError = try FileHandle(forWritingTo: folder.appendingPathComponent("stderr"))
        try process.run()
        return process
    }

    /// Runs `ign` to the end: exit status, stdout, stderr.
    static func run(_ arguments: [String], in folder: URL) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = try start(arguments, in: folder)
        process.waitUntilExit()
        let out = (try? String(contentsOf: folder.appendingPathComponent("stdout"), encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: folder.appendingPathComponent("stderr"), encoding: .utf8)) ?? ""
        return (process.terminationStatus, out, err)
    }
}

/// A minimal PNG encoder (stored deflate blocks) for modes ImageWriter does not write:
/// RGBA and palette images.
enum TinyPNG {
    static func rgba(width: Int, height: Int) -> Data {
        var rows: [UInt8] = []
        for y in 0..<height {
            rows.append(0)
            for x in 0..<width { rows += [UInt8(x * 15), UInt8(y * 20), 128, UInt8(255 - x * 10)] }
        }
        return encode(width: width, height: height, colorType: 6, rows: rows)
    }

    static func palette(width: Int, height: Int) -> Data {
        var rows: [UInt8] = []
        for y in 0..<height {
            rows.append(0)
            for x in 0..<width { rows.append(UInt8((x + y) % 4)) }
        }
        let plte: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 240, 240, 240]
        return encode(width: width, height: height, colorType: 3, rows: rows, palette: plte)
    }

    static func encode(width: Int, height: Int, colorType: UInt8, rows: [UInt8], palette: [UInt8]? = nil) -> Data {
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        func chunk(_ type: String, _ body: [UInt8]) {
            let typed = Array(type.utf8) + body
            png.append(contentsOf: be32(UInt32(body.count)) + typed + be32(crc32(typed)))
        }
        chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [8, colorType, 0, 0, 0])
        if let palette { chunk("PLTE", palette) }
        var zlib: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65535, rows.count - offset)
            let last: UInt8 = offset + n == rows.count ? 1 : 0
            zlib += [last, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            zlib += rows[offset..<(offset + n)]
            offset += n
        } while offset < rows.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in rows {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        zlib += be32(b << 16 | a)
        chunk("IDAT", zlib)
        chunk("IEND", [])
        return png
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
