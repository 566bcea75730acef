import Datasets
import Engine
import Foundation
import Imaging
import XCTest

/// `ign dataset ood`'s sets from a small stand-in for the Fashion-MNIST test file, the real
/// handwriting fonts (libvips text) and a generated photograph.
final class OutOfDistributionSetTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ign-ood-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testSetsAreBuiltAsDescribedAndReproducibly() throws {
        let count = 6
        // "Test images": image i has value (i − 6)/6 in row i and −1 elsewhere, so flips and turns are visible.
        var test = [Float](repeating: -1, count: 2 * count * 784)
        for i in 0..<(2 * count) { for x in 0..<28 { test[i * 784 + i * 28 + x] = Float(i - 6) / 6; test[i * 784 + 5 * 28 + x] = 0.5 } }
        let testFile = dir.appendingPathComponent("t10k.npy")
        try NPY.write(test, shape: [2 * count, 1, 28, 28], to: testFile)
        var photo = try PlanarImage(width: 160, height: 130, channels: 3)
        for c in 0..<3 { for y in 0..<130 { for x in 0..<160 { photo.pixels[(c * 130 + y) * 160 + x] = Float((x * (c + 1) + y) % 97) / 48.5 - 1 } } }
        let photoFile = dir.appendingPathComponent("photo.png")
        try ImageWriter().write(photo, to: photoFile)

        var builder = OutOfDistributionSetBuilder()
        builder.count = count
        builder.writesImages = true
        let report = try builder.build(testFile: testFile, photos: [photoFile], into: dir.appendingPathComponent("a"))
        XCTAssertEqual(report.arrays.map { $0.url.deletingPathExtension().lastPathComponent }, OutOfDistributionSetBuilder.names)
        XCTAssertTrue(report.arrays.allSatisfy { $0.shape == [count, 1, 28, 28] })
        let set = { (name: String) in try NPY.read(self.dir.appendingPathComponent("a/\(name).npy")).values }
        let image = { (values: [Float], i: Int) in Array(values[(i * 784)..<((i + 1) * 784)]) }

        XCTAssertEqual(try set("fashion-reference"), Array(test[0..<(count * 784)]))
        let control = try set("fashion-control")
        XCTAssertEqual(control, Array(test[(count * 784)...]))
        let upsideDown = try set("upside-down"), rotated = try set("rotated"), inverted = try set("inverted")
        for i in 0..<count {
            let c = image(control, i)
            for y in 0..<28 { for x in 0..<28 {
                XCTAssertEqual(image(upsideDown, i)[y * 28 + x], c[(27 - y) * 28 + x])
                XCTAssertEqual(image(inverted, i)[y * 28 + x], -c[y * 28 + x])
            } }
            // A quarter turn: the bright rows of the control become columns.
            let turned = image(rotated, i)
            XCTAssertNotEqual(turned, c)
            XCTAssertEqual(turned.filter { $0 == 0.5 }.count, c.filter { $0 == 0.5 }.count)
            XCTAssertTrue((0..<28).allSatisfy { y in (0..<28).contains { x in turned[y * 28 + x] == 0.5 } }, "every row crosses the turned stripe")
        }
        // Glyphs: ink on black, inside a 20 px box around the middle (MNIST's layout), not blank.
        for name in ["digits", "letters"] {
            let glyphs = try set(name)
            for i in 0..<count {
                let g = image(glyphs, i)
                XCTAssertGreaterThan(g.max()!, -0.5, "\(name) \(i) has ink (outline fonts draw thin, faint strokes)")
                XCTAssertGreaterThan(g.filter { $0 <= -0.99 }.count, 784 / 2, "\(name) \(i) is mostly background")
                let inked = (0..<784).filter { g[$0] > -0.5 }
                let ys = inked.map { $0 / 28 }, xs = inked.map { $0 % 28 }
                XCTAssertLessThanOrEqual(ys.max()! - ys.min()!, 23); XCTAssertLessThanOrEqual(xs.max()! - xs.min()!, 23)
            }
        }
        XCTAssertTrue(try set("photos").allSatisfy { (-1...1).contains($0) })
        XCTAssertGreaterThan(Set(try set("photos")).count, 50, "photo patches are not flat")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("a/digits").path).sorted(),
                       (0..<count).map { String(format: "%05d.png", $0) })

        // The same seed gives the same bytes; another seed other glyphs.
        builder.writesImages = false
        _ = try builder.build(testFile: testFile, photos: [photoFile], into: dir.appendingPathComponent("b"))
        for name in OutOfDistributionSetBuilder.names {
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("a/\(name).npy")), try Data(contentsOf: dir.appendingPathComponent("b/\(name).npy")), name)
        }
        builder.seed = 1
        _ = try builder.build(testFile: testFile, photos: [photoFile], into: dir.appendingPathComponent("c"))
        XCTAssertNotEqual(try Data(contentsOf: dir.appendingPathComponent("a/digits.npy")), try Data(contentsOf: dir.appendingPathComponent("c/digits.npy")))
    }

    /// Each handwriting font is the one drawn (Pango falls back silently when a family is not found).
    func testEveryHandwritingFontDrawsItsOwnGlyphs() throws {
        let fallback = try PlanarImage.text("7", font: "Sans 96")
        var seen: [PlanarImage] = [fallback]
        for font in OutOfDistributionSetBuilder.handwritingFonts {
            let drawn = try PlanarImage.text("7", font: "\(font.family) 96", fontFile: font.file)
            XCTAssertEqual(drawn.channels, 1)
            XCTAssertGreaterThan(drawn.pixels.max()!, 0.9, font.family)
            XCTAssertFalse(seen.contains(drawn), "\(font.family) draws like another font: is the family name right?")
            seen.append(drawn)
        }
    }
}
