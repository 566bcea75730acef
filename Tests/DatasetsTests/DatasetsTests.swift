import Engine
import Foundation
import IGN
import Imaging
import XCTest
@testable import Datasets

/// Builds from real inputs (the Noto Color Emoji font, samples/photos) into a fresh folder.
final class DatasetsTests: XCTestCase {
    static let fontURL = URL(fileURLWithPath: "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
    static let photosURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("samples/photos")

    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ign-datasets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    func requireFont() throws {
        guard FileManager.default.fileExists(atPath: DatasetsTests.fontURL.path) else {
            throw XCTSkip("\(DatasetsTests.fontURL.path) missing: run scripts/install-deps (fonts-noto-color-emoji)")
        }
    }

    // MARK: - CBDT

    func testNotoFontYieldsThousandsOfDecodablePNGs() throws {
        try requireFont()
        let font = try ColorBitmapFont(contentsOf: DatasetsTests.fontURL)
        XCTAssertGreaterThanOrEqual(font.glyphs.count, 3000)
        XCTAssertEqual(font.glyphs.map(\.glyphID), font.glyphs.map(\.glyphID).sorted())
        let first = try XCTUnwrap(font.glyphs.first)
        XCTAssertEqual(first.width, 136)
        XCTAssertEqual(first.height, 128)
        let image = try ImageLoader().load(data: first.png, channels: 3, name: "glyph \(first.glyphID)")
        XCTAssertEqual([image.width, image.height, image.channels], [136, 128, 3])
        // Transparent surroundings are flattened on white.
        XCTAssertEqual(image[0, 0, 0], 1, accuracy: 1e-6)
        XCTAssertEqual(image[2, 127, 135], 1, accuracy: 1e-6)
    }

    func testMissingAndNonFontFilesAreNamedErrors() throws {
        let missing = directory.appendingPathComponent("none.ttf")
        XCTAssertThrowsError(try ColorBitmapFont(contentsOf: missing)) { error in
            XCTAssertEqual((error as? DatasetError)?.code, .unreadable)
            XCTAssertEqual((error as? DatasetError)?.path, missing.path)
        }
        let photo = DatasetsTests.photosURL.appendingPathComponent("horse.png")
        XCTAssertThrowsError(try ColorBitmapFont(contentsOf: photo)) { error in
            XCTAssertEqual((error as? DatasetError)?.code, .malformed)
            XCTAssertEqual((error as? DatasetError)?.path, photo.path)
        }
    }

    // MARK: - emoji

    func testEmojiBuildShapesRangeWhiteCornersAndDeterminism() throws {
        try requireFont()
        var builder = EmojiDatasetBuilder()
        builder.limit = 40
        let first = directory.appendingPathComponent("a"), second = directory.appendingPathComponent("b")
        let report = try builder.build(font: DatasetsTests.fontURL, into: first)
        XCTAssertEqual(report.arrays.map(\.shape), [[34, 3, 32, 32], [2, 3, 32, 32], [4, 3, 32, 32]])
        for part in ["train", "val", "test"] {
            let (shape, values) = try NPY.read(first.appendingPathComponent("emoji32-\(part).npy"))
            XCTAssertTrue(values.allSatisfy { $0 >= -1 && $0 <= 1 })
            let plane = 32 * 32
            for n in 0..<shape[0] {
                for c in 0..<3 {
                    for (y, x) in [(0, 0), (0, 31), (31, 0), (31, 31)] {
                        XCTAssertGreaterThan(values[(n * 3 + c) * plane + y * 32 + x], 0.98, "\(part) \(n) corner")
                    }
                }
            }
            // Not blank: every emoji has some clearly non-white pixels.
            for n in 0..<shape[0] {
                XCTAssertLessThan(values[(n * 3 * plane)..<((n + 1) * 3 * plane)].min()!, 0)
            }
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.appendingPathComponent("emoji32-test-preview.png").path))

        builder.exportTest = 3
        _ = try builder.build(font: DatasetsTests.fontURL, into: second)
        // The exported test glyphs are the first test images at full resolution.
        let split = try String(contentsOf: second.appendingPathComponent("emoji32-split.txt"), encoding: .utf8)
        let testIDs = split.split(separator: "\n").filter { $0.hasPrefix("test ") }.map { $0.split(separator: " ")[1] }
        let exported = try FileManager.default.contentsOfDirectory(atPath: second.appendingPathComponent("emoji32-test-png").path)
        XCTAssertEqual(Set(exported), Set(testIDs.prefix(3).map { "g\($0).png" }))
        let (_, test) = try NPY.read(second.appendingPathComponent("emoji32-test.npy"))
        for (n, id) in testIDs.prefix(3).enumerated() {
            let full = try ImageLoader().load(second.appendingPathComponent("emoji32-test-png/g\(id).png"))
            XCTAssertEqual(full.width, full.height)
            XCTAssertGreaterThan(full.width, 100)
            let small = try full.resized(width: 32, height: 32, kernel: .lanczos3)
            let worst = zip(small.pixels, test[(n * 3072)..<((n + 1) * 3072)]).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 0.02, "g\(id).png is test image \(n) before resizing (up to 8-bit rounding)")
        }
        for file in ["emoji32-train.npy", "emoji32-val.npy", "emoji32-test.npy", "emoji32-split.txt"] {
            XCTAssertEqual(try Data(contentsOf: first.appendingPathComponent(file)),
                           try Data(contentsOf: second.appendingPathComponent(file)), file)
        }
        builder.seed = 1
        let other = directory.appendingPathComponent("c")
        _ = try builder.build(font: DatasetsTests.fontURL, into: other)
        XCTAssertNotEqual(try Data(contentsOf: first.appendingPathComponent("emoji32-split.txt")),
                          try Data(contentsOf: other.appendingPathComponent("emoji32-split.txt")))
    }

    // MARK: - photos

    func testPhotoPatchesHoldOutWholePhotosAndSkipBadFiles() throws {
        let broken = directory.appendingPathComponent("broken.jpg")
        let jpeg = try Data(contentsOf: DatasetsTests.photosURL.appendingPathComponent("coffee.jpg"))
        try jpeg.prefix(jpeg.count / 2).write(to: broken)
        var builder = PhotoPatchBuilder()
        builder.patches = 150
        builder.testPatches = 40
        builder.maxSide = 96
        builder.scales = [1, 0.5]
        builder.testImages = ["chelsea", "rocket.jpg"]
        let out = directory.appendingPathComponent("out")
        let report = try builder.build(inputs: [DatasetsTests.photosURL, broken], into: out)
        XCTAssertEqual(report.arrays.map(\.shape), [[150, 3, 32, 32], [40, 3, 32, 32]])
        XCTAssertEqual(report.warnings.count, 1, "\(report.warnings)")
        XCTAssertTrue(report.warnings[0].contains(broken.path), report.warnings[0])

        let sources = try String(contentsOf: out.appendingPathComponent("photo32-sources.txt"), encoding: .utf8)
        let lines = sources.split(separator: "\n").filter { !$0.hasPrefix("#") }
        let testNames = lines.filter { $0.hasPrefix("test ") }.map { URL(fileURLWithPath: String($0.split(separator: " ")[1])).lastPathComponent }
        XCTAssertEqual(testNames, ["chelsea.jpg", "rocket.jpg"])
        XCTAssertEqual(lines.filter { $0.hasPrefix("train ") }.count, 15)
        XCTAssertEqual(lines.filter { $0.hasPrefix("skipped ") }.count, 1)

        // Every test patch is a crop of a held-out photo; no train patch is.
        let heldOut = try ["chelsea.jpg", "rocket.jpg"].map { try builder.load(DatasetsTests.photosURL.appendingPathComponent($0)) }
        let (_, train) = try NPY.read(out.appendingPathComponent("photo32-train.npy"))
        let (_, test) = try NPY.read(out.appendingPathComponent("photo32-test.npy"))
        let n = 3 * 32 * 32
        for i in 0..<40 { XCTAssertTrue(isCrop(Array(test[(i * n)..<((i + 1) * n)]), of: heldOut), "test patch \(i)") }
        for i in 0..<150 { XCTAssertFalse(isCrop(Array(train[(i * n)..<((i + 1) * n)]), of: heldOut), "train patch \(i)") }
    }

    func testSkipGrayLeavesOutPhotosWithoutColour() throws {
        let loader = ImageLoader()
        for name in ["camera.jpg", "text.png", "brick.jpg"] {
            XCTAssertTrue(PhotoPatchBuilder.isGray(try loader.load(DatasetsTests.photosURL.appendingPathComponent(name), channels: 3)), name)
        }
        for name in ["chelsea.jpg", "coffee.jpg", "astronaut.jpg"] {
            XCTAssertFalse(PhotoPatchBuilder.isGray(try loader.load(DatasetsTests.photosURL.appendingPathComponent(name), channels: 3)), name)
        }
        var builder = PhotoPatchBuilder()
        builder.patches = 20
        builder.testPatches = 4
        builder.maxSide = 64
        builder.skipGray = true
        builder.testImages = ["chelsea"]
        let out = directory.appendingPathComponent("colour")
        let names = ["camera.jpg", "chelsea.jpg", "coffee.jpg"].map { DatasetsTests.photosURL.appendingPathComponent($0) }
        let report = try builder.build(inputs: names, into: out)
        XCTAssertEqual(report.warnings.count, 1)
        XCTAssertTrue(report.warnings[0].contains("camera.jpg") && report.warnings[0].contains("no colour"), report.warnings[0])
    }

    private func isCrop(_ patch: [Float], of photos: [PhotoPatchBuilder.Photo]) -> Bool {
        for view in photos.flatMap(\.views) {
            for y in 0...(view.height - 32) {
                for x in 0...(view.width - 32) where view[0, y, x] == patch[0] {
                    if let crop = try? view.cropped(x: x, y: y, width: 32, height: 32), crop.pixels == patch { return true }
                }
            }
        }
        return false
    }

    // MARK: - Fashion-MNIST

    func testFashionSplitShapesAndMembership() throws {
        // Image i has every pixel equal to i, so each output image says where it came from.
        func idx(_ count: Int) -> Data {
            var bytes: [UInt8] = [0, 0, 8, 3]
            for dim in [count, 28, 28] { bytes += [0, 0, UInt8(dim >> 8), UInt8(dim & 0xff)] }
            for i in 0..<count { bytes += [UInt8](repeating: UInt8(i), count: 28 * 28) }
            return Data(bytes)
        }
        let trainFile = directory.appendingPathComponent("train-idx3"), testFile = directory.appendingPathComponent("t10k-idx3")
        try idx(30).write(to: trainFile)
        try idx(7).write(to: testFile)
        var builder = FashionSplitBuilder()
        builder.validationCount = 5
        let out = directory.appendingPathComponent("out")
        let report = try builder.build(trainFile: trainFile, testFile: testFile, into: out)
        XCTAssertEqual(report.arrays.map(\.shape), [[25, 1, 28, 28], [5, 1, 28, 28], [7, 1, 28, 28]])
        func sources(_ part: String) throws -> [Int] {
            let (shape, values) = try NPY.read(out.appendingPathComponent("fashion28-\(part).npy"))
            return (0..<shape[0]).map { Int(PlanarImage.byte(fromValue: values[$0 * 784])) }
        }
        XCTAssertEqual(Set(try sources("train") + sources("val")), Set(0..<30))
        XCTAssertEqual(try sources("train").count + sources("val").count, 30)
        XCTAssertEqual(try sources("test"), Array(0..<7))
        XCTAssertEqual(try Dataset.load(out.appendingPathComponent("fashion28-val.npy")).count, 5)
    }
}
