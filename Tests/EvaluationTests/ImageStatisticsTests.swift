@testable import Evaluation
import Engine
import Foundation
import Imaging
import XCTest

/// The image-statistics feature space of the colour models' sample quality, on real photos.
final class ImageStatisticsTests: XCTestCase {
    static let photos = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("samples/photos")

    /// 32×32 patches of the colour photos in samples/, on an 8-pixel lattice (overlapping),
    /// alternately into two halves.
    func patches() throws -> (a: [PlanarImage], b: [PlanarImage]) {
        var a: [PlanarImage] = [], b: [PlanarImage] = []
        for name in ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "friends.jpg", "rocket.jpg"] {
            let photo = try ImageLoader().load(Self.photos.appendingPathComponent(name), channels: 3)
                .resized(width: 128, height: 128, kernel: .lanczos3)
            for y in stride(from: 0, through: 96, by: 8) {
                for x in stride(from: 0, through: 96, by: 8) {
                    var pixels: [Float] = []
                    for c in 0..<3 {
                        for row in y..<(y + 32) {
                            let start: Int = (c * 128 + row) * 128 + x
                            pixels += photo.pixels[start..<(start + 32)]
                        }
                    }
                    let patch = try PlanarImage(width: 32, height: 32, channels: 3, pixels: pixels)
                    if (a.count + b.count) % 2 == 0 { a.append(patch) } else { b.append(patch) }
                }
            }
        }
        return (a, b)
    }

    /// Hand-computed features of a horizontal ramp in red on constant green and blue.
    func testRawFeaturesOfAKnownImage() throws {
        let shape = SampleShape(channels: 3, height: 8, width: 8)
        var pixels = [Float](repeating: 0.5, count: 3 * 64)
        for y in 0..<8 { for x in 0..<8 { pixels[y * 8 + x] = Float(x) / 8 } }   // red
        for k in 128..<192 { pixels[k] = -0.5 }                                  // blue
        let f = ImageStatistics.raw(pixels, count: 1, shape: shape)
        XCTAssertEqual(f.count, ImageStatistics.dimension(channels: 3))
        XCTAssertEqual(f.count, 67)
        // red: 4×4 grid over 2-pixel cells, so cell gx averages x = 2gx, 2gx + 1.
        for gy in 0..<4 { for gx in 0..<4 { XCTAssertEqual(f[gy * 4 + gx], Float(4 * gx + 1) / 16, accuracy: 1e-6) } }
        let ramp = (0..<8).map { Float($0) / 8 }, rampMean = ramp.reduce(0, +) / 8
        let rampStd = (ramp.map { ($0 - rampMean) * ($0 - rampMean) }.reduce(0, +) / 8).squareRoot()
        XCTAssertEqual(f[16], rampStd, accuracy: 1e-6)
        XCTAssertEqual(f[17], 1.0 / 8, accuracy: 1e-6, "horizontal detail of the ramp")
        XCTAssertEqual(f[18], 0, accuracy: 1e-6, "no vertical detail")
        XCTAssertEqual(f[19], 2.0 / 8, accuracy: 1e-6, "at half resolution a step spans two pixels")
        XCTAssertEqual(f[20], 0, accuracy: 1e-6)
        let green = 21, blue = 42, colour = 63
        XCTAssertEqual(f[green], 0.5, accuracy: 1e-6)
        XCTAssertEqual(Array(f[(green + 16)..<(green + 21)]), [0, 0, 0, 0, 0])
        XCTAssertEqual(f[blue], -0.5, accuracy: 1e-6)
        XCTAssertEqual(f[colour], rampMean - 0.5, accuracy: 1e-6, "mean of R − G")
        XCTAssertEqual(f[colour + 1], rampStd, accuracy: 1e-6)
        XCTAssertEqual(f[colour + 2], (rampMean + 0.5) / 2 + 0.5, accuracy: 1e-6, "mean of (R + G)/2 − B")
        XCTAssertEqual(f[colour + 3], rampStd / 2, accuracy: 1e-6)
    }

    /// Standardised on a set, that set's features have mean 0 and standard deviation 1 each.
    func testStandardisedOnTheReference() throws {
        let (a, _) = try patches()
        let shape = SampleShape(channels: 3, height: 32, width: 32)
        let space = ImageStatistics(reference: a.flatMap(\.pixels), count: a.count, shape: shape)
        let f = space.features(a.flatMap(\.pixels), count: a.count, threads: 1).features, d = space.dimension
        for k in 0..<d {
            let column = (0..<a.count).map { Double(f[$0 * d + k]) }
            let mean = column.reduce(0, +) / Double(a.count)
            let std = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(a.count - 1)).squareRoot()
            XCTAssertEqual(mean, 0, accuracy: 1e-4, "feature \(k)")
            XCTAssertEqual(std, 1, accuracy: 1e-3, "feature \(k)")
        }
    }

    /// Patches of the same photos are near each other; the same patches grayed or blurred are far.
    func testTellsGrayAndBlurFromTheData() throws {
        let (a, b) = try patches()
        let shape = SampleShape(channels: 3, height: 32, width: 32)
        let space = ImageStatistics(reference: a.flatMap(\.pixels), count: a.count, shape: shape)
        let reference = FeatureGaussian(features: space.features(a.flatMap(\.pixels), count: a.count, threads: 1).features, dimension: space.dimension)
        func distance(_ images: [PlanarImage]) -> Double {
            FeatureGaussian(features: space.features(images.flatMap(\.pixels), count: images.count, threads: 1).features, dimension: space.dimension)
                .frechetDistance(to: reference)
        }
        let same = distance(b)
        let gray = distance(try b.map { try Corruption.grayscale.apply(to: $0, seed: 0) })
        let blurred = distance(try b.map { try $0.blurred(sigma: 1.5) })
        XCTAssertLessThan(same, 10, "another half of the same photos")
        XCTAssertGreaterThan(gray, 5 * same, "gray copies (\(gray) vs \(same))")
        XCTAssertGreaterThan(blurred, 5 * same, "blurred copies (\(blurred) vs \(same))")
    }
}
