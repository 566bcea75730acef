import Engine
import Foundation
@testable import IGN
import Imaging
import XCTest

/// The consistency term's twins against the corruptions they stand for, on the held-out emoji of
/// samples/emoji: a clean image is consistent with its own gray version and sketch (a gap near 0,
/// what 8-bit rounding leaves), and far from another image's.
final class CorruptionTwinConsistencyTests: XCTestCase {
    static let emoji = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("samples/emoji")

    func testTwinsAgreeWithTheCorruptions() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.emoji.path).filter { $0.hasSuffix(".png") }.sorted()
        let images = try files.prefix(12).map { try ImageLoader().load(Self.emoji.appendingPathComponent($0), channels: 3) }
        let shape = SampleShape(channels: 3, height: images[0].height, width: images[0].width)
        for (spec, kind) in [("grayscale", KeptProperty.luminance), ("sketch:sobel", .edges)] {
            let corruption = try Corruption(parsing: spec)
            var own = 0.0, other = 0.0
            for (k, image) in images.enumerated() {
                let z = try corruption.apply(to: image, seed: 0).pixels
                let twins = CorruptionTwins(shape: shape, distance: .l1)
                own += twins.perSample(image.pixels, z, kinds: [kind], batch: 1)[0]
                let neighbour = images[(k + 1) % images.count]
                other += twins.perSample(neighbour.pixels, z, kinds: [kind], batch: 1)[0]
            }
            own /= Double(images.count); other /= Double(images.count)
            XCTAssertLessThan(own, 0.01, "\(spec): mean |gap| of an image with its own corruption")
            XCTAssertGreaterThan(other, 10 * own, "\(spec): another image's corruption is far")
        }
    }
}
