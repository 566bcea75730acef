import Engine
import Foundation
import IGN
import Imaging
import XCTest

/// The models shipped in the package load by name, carry their card and training record, and
/// really are projectors: real test images come back close to themselves.
final class BundledModelTests: XCTestCase {
    func testFashion28() throws {
        XCTAssertTrue(BundledModels.names.contains("fashion28"), "bundled: \(BundledModels.names)")
        let model = try BundledModels.load("fashion28")
        XCTAssertEqual(model.architecture, .dcgan28)
        XCTAssertEqual(model.channels, 1)
        XCTAssertNotNil(model.metadata["batchnorm"], "shipped models are recalibrated on data")
        XCTAssertEqual(model.metadata["noise"], "fourier")
        let card = try XCTUnwrap(BundledModels.card("fashion28"))
        XCTAssertTrue(card.contains("ign train"), "the card gives the training command")

        // The 64 Fashion-MNIST test images in samples/ (never trained on): f(x) ≈ x.
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../samples/fashion").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".png") }.sorted()
        XCTAssertEqual(files.count, 64)
        let x = try files.flatMap { try ImageLoader().load(folder.appendingPathComponent($0), channels: 1).pixels }
        let fx = Projector(model: model).apply(x, count: files.count, steps: 1)[0]
        let mse = zip(fx, x).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(x.count)
        let psnr = 10 * log10(4 / mse)  // the range [-1, 1] spans 2
        XCTAssertGreaterThan(psnr, 20, "reconstruction PSNR on real test images")
    }
}
