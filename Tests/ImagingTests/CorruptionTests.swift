import Foundation
import XCTest
@testable import Imaging

final class CorruptionTests: ImagingTestCase {
    func photo(width: Int = 48, height: Int = 40, channels: Int = 3) throws -> PlanarImage {
        try image(width: width, height: height, channels: channels) { c, y, x in
            Float(0.7 * sin(Double(x) * 0.3 + Double(c)) * cos(Double(y) * 0.2 - Double(c)))
        }
    }

    func testParsingAndDescriptions() throws {
        let cases: [(String, Corruption)] = [
            ("noise:0.2", .noise(sigma: 0.2)), ("gaussian:0.2", .gaussian(sigma: 0.2)), ("grayscale", .grayscale), ("greyscale", .grayscale),
            ("sketch", .sketch(.sobel)), ("sketch:canny", .sketch(.canny)), ("Sketch:Sobel", .sketch(.sobel)),
            ("blur:1.5", .blur(sigma: 1.5)), ("jpeg:20", .jpeg(quality: 20)), ("holes:4:8", .holes(count: 4, size: 8)),
            (" noise : 0.05 ", .noise(sigma: 0.05)),
            ("noise:10", .noise(sigma: 10)), ("blur:1000", .blur(sigma: 1000)), ("holes:1000:1", .holes(count: 1000, size: 1)),
        ]
        for (text, expected) in cases {
            let parsed = try Corruption(parsing: text)
            XCTAssertEqual(parsed, expected, text)
            XCTAssertEqual(try Corruption(parsing: parsed.description), parsed, text)
        }
        for bad in ["", "noise", "noise:x", "noise:-1", "noise:0.1:2", "sketch:prewitt", "jpeg:0", "jpeg:101",
                    "holes:4", "holes:-1:3", "blur:nan", "swirl:3", "grayscale:1",
                    "noise:10.5", "blur:1e9", "holes:1001:4"] {
            assertImagingError(.invalidArgument) { _ = try Corruption(parsing: bad) }
        }
        XCTAssertEqual(try Corruption.parseChain("grayscale,noise:0.1"), [.grayscale, .noise(sigma: 0.1)])
    }

    /// The extremes a spec may give are ones that work on an image: validation refuses
    /// whatever would fail every image later (blur's mask is libvips-limited to 5000 taps).
    func testTheLargestValuesAcceptedApply() throws {
        let image = try photo(width: 9, height: 7)
        for spec in ["noise:10", "blur:1000", "holes:1000:1000000000", "jpeg:1", "jpeg:100", "noise:0", "blur:0"] {
            let corrupted = try Corruption(parsing: spec).apply(to: image, seed: 1)
            XCTAssertEqual([corrupted.width, corrupted.height, corrupted.channels], [9, 7, 3], spec)
            XCTAssertTrue(corrupted.pixels.allSatisfy(\.isFinite), spec)
        }
    }

    func testSeedIsStable() {
        // Fixed values: the seed must never change between runs, builds or platforms.
        XCTAssertEqual(Corruption.seed(runSeed: 42, relativePath: "cats/tabby.png"), 0x355a_982a_d3ad_8d99)
        XCTAssertEqual(Corruption.seed(runSeed: 0, relativePath: ""), 0xf52a_15e9_a9b5_e89b)
        XCTAssertNotEqual(Corruption.seed(runSeed: 42, relativePath: "a.png"), Corruption.seed(runSeed: 43, relativePath: "a.png"))
        XCTAssertNotEqual(Corruption.seed(runSeed: 42, relativePath: "a.png"), Corruption.seed(runSeed: 42, relativePath: "b.png"))
    }

    func testEveryCorruptionIsDeterministicAndKeepsShape() throws {
        let input = try photo()
        for corruption in [Corruption.noise(sigma: 0.1), .grayscale, .sketch(.sobel), .sketch(.canny),
                           .blur(sigma: 1.2), .jpeg(quality: 30), .holes(count: 3, size: 6)] {
            let a = try corruption.apply(to: input, seed: 7)
            let b = try corruption.apply(to: input, seed: 7)
            XCTAssertEqual([a.width, a.height, a.channels], [48, 40, 3], "\(corruption)")
            XCTAssertEqual(a, b, "\(corruption) is not deterministic")
            XCTAssertNotEqual(a, input, "\(corruption) changed nothing")
            XCTAssertTrue(a.pixels.allSatisfy { $0 >= -1 && $0 <= 1 }, "\(corruption) left the range")
        }
        for seeded in [Corruption.noise(sigma: 0.1), .holes(count: 3, size: 6)] {
            XCTAssertNotEqual(try seeded.apply(to: input, seed: 7), try seeded.apply(to: input, seed: 8), "\(seeded)")
        }
        let chain = try Corruption.apply([.grayscale, .noise(sigma: 0.05)], to: input, seed: 3)
        XCTAssertEqual(chain, try Corruption.apply([.grayscale, .noise(sigma: 0.05)], to: input, seed: 3))
        // The libvips-based ones give the same result with more libvips threads.
        let libvipsBased = [Corruption.blur(sigma: 1.2), .sketch(.canny), .jpeg(quality: 30)]
        let single = try libvipsBased.map { try $0.apply(to: input, seed: 7) }
        try Vips.initialize(concurrency: 2)
        defer { try? Vips.initialize(concurrency: 1) }
        XCTAssertEqual(try libvipsBased.map { try $0.apply(to: input, seed: 7) }, single)
    }

    func testNoiseHasTheRequestedSigmaAndZeroMean() throws {
        let grey = try PlanarImage(width: 128, height: 128, channels: 3, fill: 0)  // mid-grey
        for sigma in [0.05, 0.1, 0.2] {
            let noisy = try Corruption.noise(sigma: sigma).apply(to: grey, seed: 11)
            let deltas = noisy.pixels.map { Double($0) / 2 }  // back to 0–1 units
            let mean = deltas.reduce(0, +) / Double(deltas.count)
            let sd = (deltas.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(deltas.count)).squareRoot()
            XCTAssertEqual(mean, 0, accuracy: 0.005, "σ=\(sigma)")
            XCTAssertEqual(sd, sigma, accuracy: sigma * 0.05, "σ=\(sigma)")
        }
        // Channels get independent noise.
        let noisy = try Corruption.noise(sigma: 0.1).apply(to: grey, seed: 1)
        XCTAssertNotEqual(Array(noisy.pixels[0..<100]), Array(noisy.pixels[(128 * 128)..<(128 * 128 + 100)]))
        XCTAssertEqual(try Corruption.noise(sigma: 0).apply(to: grey, seed: 1), grey)
    }

    /// `gaussian:σ` draws the same noise as `noise:σ` but leaves it unclamped: equal where the clamp
    /// did nothing, past [-1, 1] on a near-white image where it would have clamped, with the full σ.
    func testGaussianNoiseIsNoiseUnclamped() throws {
        let light = try PlanarImage(width: 128, height: 128, channels: 3, fill: 0.9)
        let clamped = try Corruption.noise(sigma: 0.2).apply(to: light, seed: 4)
        let gaussian = try Corruption.gaussian(sigma: 0.2).apply(to: light, seed: 4)
        for (c, g) in zip(clamped.pixels, gaussian.pixels) { XCTAssertEqual(c, min(1, max(-1, g))) }
        XCTAssertGreaterThan(gaussian.pixels.filter { $0 > 1 }.count, gaussian.pixels.count / 3)
        let deltas = gaussian.pixels.map { Double($0 - 0.9) / 2 }
        let sd = (deltas.map { $0 * $0 }.reduce(0, +) / Double(deltas.count)).squareRoot()
        XCTAssertEqual(sd, 0.2, accuracy: 0.01)
    }

    func testGrayscaleReplicatesLuminance() throws {
        let input = try photo()
        let out = try Corruption.grayscale.apply(to: input, seed: 0)
        let n = input.planeSize
        XCTAssertEqual(Array(out.pixels[0..<n]), Array(out.pixels[n..<(2 * n)]))
        XCTAssertEqual(Array(out.pixels[0..<n]), Array(out.pixels[(2 * n)..<(3 * n)]))
        XCTAssertEqual(Array(out.pixels[0..<n]), input.luminance().pixels)
        // Pure white stays white; pure green has luminance 0.7152 (linear) → sRGB ≈ 0.8625.
        let green = try PlanarImage(width: 1, height: 1, channels: 3, pixels: [-1, 1, -1])
        XCTAssertEqual((try Corruption.grayscale.apply(to: green, seed: 0).pixels[0] + 1) / 2, 0.8625, accuracy: 0.001)
        let white = try PlanarImage(width: 2, height: 2, channels: 3, fill: 1)
        XCTAssertEqual(try Corruption.grayscale.apply(to: white, seed: 0).pixels.min()!, 1, accuracy: 1e-5)
        let grey = try photo(channels: 1)
        XCTAssertEqual(try Corruption.grayscale.apply(to: grey, seed: 0), grey)
    }

    func testSketchOfFlatIsWhiteAndEdgesAreDark() throws {
        for method in SketchMethod.allCases {
            for channels in [1, 3] {
                let flat = try PlanarImage(width: 32, height: 24, channels: channels, fill: -0.3)
                let blank = try Corruption.sketch(method).apply(to: flat, seed: 0)
                XCTAssertEqual(blank.channels, channels)
                XCTAssertEqual(blank.pixels.min(), 1, "\(method): a flat image must sketch to white")

                let step = try image(width: 32, height: 24, channels: channels) { _, _, x in x < 16 ? -1 : 1 }
                let lines = try Corruption.sketch(method).apply(to: step, seed: 0)
                let column = (0..<32).map { lines[0, 12, $0] }
                // Darker than mid-grey on the edge (sobel draws a black/white step at 60%, canny fully).
                XCTAssertLessThan(column[15...16].min()!, method == .canny ? -0.9 : -0.1, "\(method): the edge must be dark")
                XCTAssertEqual(column[0..<10].min(), 1, "\(method): away from the edge is white")
                XCTAssertEqual(column[22..<32].min(), 1, "\(method): away from the edge is white")
            }
        }
    }

    func testBlurJpegAndHoles() throws {
        let input = try photo()
        func variance(_ p: PlanarImage) -> Double {
            let m = p.pixels.reduce(0) { $0 + Double($1) } / Double(p.pixels.count)
            return p.pixels.reduce(0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(p.pixels.count)
        }
        let noisy = try Corruption.noise(sigma: 0.2).apply(to: input, seed: 5)
        XCTAssertLessThan(variance(try Corruption.blur(sigma: 2).apply(to: noisy, seed: 0)), variance(noisy) * 0.8)
        XCTAssertEqual(try Corruption.blur(sigma: 0).apply(to: input, seed: 0), input)
        let flat = try PlanarImage(width: 20, height: 20, channels: 3, fill: 0.2)
        XCTAssertLessThan(maxAbsDifference(try Corruption.blur(sigma: 1.5).apply(to: flat, seed: 0), flat), 1e-3)

        let good = try Metrics.psnr(try Corruption.jpeg(quality: 90).apply(to: input, seed: 0), input)
        let bad = try Metrics.psnr(try Corruption.jpeg(quality: 5).apply(to: input, seed: 0), input)
        XCTAssertGreaterThan(good, 30)
        XCTAssertLessThan(bad, good - 5)
        XCTAssertEqual(try Corruption.jpeg(quality: 50).apply(to: try photo(channels: 1), seed: 0).channels, 1)

        let white = try PlanarImage(width: 40, height: 30, channels: 3, fill: 1)
        let holed = try Corruption.holes(count: 1, size: 7).apply(to: white, seed: 9)
        XCTAssertEqual(holed.pixels.filter { $0 == 0 }.count, 7 * 7 * 3)
        let many = try Corruption.holes(count: 5, size: 4).apply(to: white, seed: 9)
        let masked = many.pixels.filter { $0 == 0 }.count
        XCTAssertGreaterThan(masked, 0)
        XCTAssertLessThanOrEqual(masked, 5 * 16 * 3)
        XCTAssertEqual(masked % 3, 0)
        let huge = try Corruption.holes(count: 1, size: 100).apply(to: white, seed: 1)
        XCTAssertEqual(huge.pixels.max(), 0)  // clipped to the image: all masked
    }
}
