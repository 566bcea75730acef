import Foundation
import XCTest
@testable import Imaging

final class MetricsTests: ImagingTestCase {
    func testPSNR() throws {
        let a = try PlanarImage(width: 16, height: 16, channels: 3, fill: 0)
        XCTAssertEqual(try Metrics.psnr(a, a), .infinity)
        // +0.2 in [-1, 1] is +0.1 on the 0–1 scale: MSE 0.01, PSNR 20 dB.
        let b = try PlanarImage(width: 16, height: 16, channels: 3, fill: 0.2)
        XCTAssertEqual(try Metrics.mse(a, b), 0.01, accuracy: 1e-8)
        XCTAssertEqual(try Metrics.psnr(a, b), 20, accuracy: 1e-5)
        // Black vs white: MSE 1, PSNR 0.
        let black = try PlanarImage(width: 4, height: 4, channels: 1, fill: -1)
        let white = try PlanarImage(width: 4, height: 4, channels: 1, fill: 1)
        XCTAssertEqual(try Metrics.psnr(black, white), 0, accuracy: 1e-9)
        assertImagingError(.invalidArgument) { _ = try Metrics.psnr(a, black) }
    }

    func testRMSIsOnTheValueScale() {
        XCTAssertEqual(Metrics.rms([Float](repeating: 0.5, count: 6), [Float](repeating: -0.5, count: 6)), 1, accuracy: 1e-12)
        XCTAssertEqual(Metrics.rms([3, -4, 0, 0] as [Float]), 2.5, accuracy: 1e-12)  // √((9 + 16) / 4)
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        XCTAssertEqual(Metrics.rms(values[2..<4], values[0..<2]), 2, accuracy: 1e-12, "slices of one array")
        XCTAssertEqual(Metrics.rms([Float]()), 0)
    }

    func testSSIM() throws {
        let w = 32, h = 24
        var av = [Float](), bv = [Float]()
        for y in 0..<h {
            for x in 0..<w {
                let a = (sin(Double(x) * 0.5) * cos(Double(y) * 0.3) + 1) / 2
                let b = min(1, max(0, a * 0.8 + 0.1 + 0.05 * sin(Double(x) * 1.7 + Double(y) * 0.9)))
                av.append(Float(a) * 2 - 1)
                bv.append(Float(b) * 2 - 1)
            }
        }
        let a = try PlanarImage(width: w, height: h, channels: 1, pixels: av)
        let b = try PlanarImage(width: w, height: h, channels: 1, pixels: bv)
        XCTAssertEqual(try Metrics.ssim(a, a), 1)
        // Reference: skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
        // use_sample_covariance=False, data_range=1) on the same arrays.
        XCTAssertEqual(try Metrics.ssim(a, b), 0.9478973546099777, accuracy: 1e-4)
        XCTAssertEqual(try Metrics.ssim(a, b), try Metrics.ssim(b, a), accuracy: 1e-12)
        // Constant images: SSIM reduces to the luminance term (2μxμy + C1) / (μx² + μy² + C1).
        let x = try PlanarImage(width: 20, height: 20, channels: 3, fill: 0)    // μ = 0.5
        let y = try PlanarImage(width: 20, height: 20, channels: 3, fill: 0.2)  // μ = 0.6
        let c1 = 0.0001
        XCTAssertEqual(try Metrics.ssim(x, y), (2 * 0.5 * 0.6 + c1) / (0.25 + 0.36 + c1), accuracy: 1e-6)
        // Noise lowers SSIM; tiny images still work.
        let noisy = try Corruption.noise(sigma: 0.1).apply(to: a, seed: 1)
        XCTAssertLessThan(try Metrics.ssim(a, noisy), 0.9)
        let tiny = try PlanarImage(width: 6, height: 5, channels: 1, fill: 0.1)
        XCTAssertEqual(try Metrics.ssim(tiny, tiny), 1)
        XCTAssertLessThan(try Metrics.ssim(tiny, try Corruption.noise(sigma: 0.2).apply(to: tiny, seed: 2)), 1)
    }

    func testLabAndDeltaE() throws {
        let red = try PlanarImage(width: 1, height: 1, channels: 3, pixels: [1, -1, -1])
        let lab = LabImage(red)
        XCTAssertEqual(lab.l[0], 53.24, accuracy: 0.05)
        XCTAssertEqual(lab.a[0], 80.09, accuracy: 0.1)
        XCTAssertEqual(lab.b[0], 67.20, accuracy: 0.1)
        let white = try PlanarImage(width: 3, height: 2, channels: 3, fill: 1)
        let black = try PlanarImage(width: 3, height: 2, channels: 3, fill: -1)
        XCTAssertEqual(LabImage(white).l[0], 100, accuracy: 0.01)
        XCTAssertEqual(LabImage(white).a[0], 0, accuracy: 0.01)
        XCTAssertEqual(try Metrics.meanDeltaE76(white, white), 0)
        XCTAssertEqual(try Metrics.meanDeltaE76(white, black), 100, accuracy: 0.01)
        // Grey images compare as neutral colours.
        XCTAssertEqual(try Metrics.meanDeltaE76(try PlanarImage(width: 3, height: 2, channels: 1, fill: 1), white), 0, accuracy: 1e-3)
        // Lab → sRGB round trip.
        let picture = try image(width: 12, height: 10, channels: 3) { c, y, x in
            Float(0.9 * sin(Double(x * (c + 1)) * 0.4 + Double(y) * 0.3))
        }
        XCTAssertLessThan(maxAbsDifference(LabImage(picture).toSRGB(), picture), 1e-4)
    }

    func testCombineLightnessWithChroma() throws {
        let colour = try image(width: 8, height: 8, channels: 3) { c, _, x in c == 0 ? 0.4 : (c == 1 ? Float(x) / 10 - 0.3 : -0.2) }
        let grey = try colour.luminance().blurred(sigma: 1)  // a different lightness
        let combined = try Colorization.combine(lightnessOf: grey, chromaOf: colour)
        XCTAssertEqual(combined.channels, 3)
        let got = LabImage(combined), wantL = LabImage(grey), wantAB = LabImage(colour)
        for i in 0..<64 {
            XCTAssertEqual(got.l[i], wantL.l[i], accuracy: 0.05)
            XCTAssertEqual(got.a[i], wantAB.a[i], accuracy: 0.2)
            XCTAssertEqual(got.b[i], wantAB.b[i], accuracy: 0.2)
        }
        // Lightness and chroma from the same image give that image back.
        XCTAssertLessThan(maxAbsDifference(try Colorization.combine(lightnessOf: colour, chromaOf: colour), colour), 1e-4)
        assertImagingError(.invalidArgument) {
            _ = try Colorization.combine(lightnessOf: grey, chromaOf: try PlanarImage(width: 4, height: 8, channels: 3, fill: 0))
        }
    }
}
