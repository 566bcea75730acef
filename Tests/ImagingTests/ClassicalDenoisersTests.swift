import Basics
import Imaging
import XCTest

/// The classical baselines: every filter really filters, and the tuning picks what is best.
final class ClassicalDenoisersTests: ImagingTestCase {
    /// A smooth picture (a slow ramp) and a noisy copy of it.
    private func pair(sigma: Float, seed: UInt64) throws -> (clean: PlanarImage, noisy: PlanarImage) {
        let clean = try image(width: 48, height: 40, channels: 1) { (_, y: Int, x: Int) -> Float in Float(x + y) / 88 - 0.5 }
        var noisy = clean
        var rng = RandomSource(seed: seed)
        let noise = rng.normals(noisy.pixels.count, std: sigma)
        for i in noisy.pixels.indices { noisy.pixels[i] = max(-1, min(1, noisy.pixels[i] + noise[i])) }
        return (clean, noisy)
    }

    /// The two-pass blur the classical baseline runs equals libvips' gaussblur (the plain
    /// version it replaces) to float rounding, for every σ tried, colour and grey, and on images
    /// smaller than the mask (edges copied).
    func testGaussianBlurMatchesLibvips() throws {
        var rng = RandomSource(seed: 3)
        for (w, h, c) in [(48, 40, 1), (17, 9, 3), (3, 2, 1), (1, 1, 3)] {
            let values = rng.normals(w * h * c, std: 0.5).map { max(-1, min(1, $0)) }
            let picture = try PlanarImage(width: w, height: h, channels: c, pixels: values)
            for sigma in ClassicalDenoisers.blurSigmas {
                let ours = try GaussianBlur(sigma: sigma).apply(to: picture), theirs = try picture.blurred(sigma: sigma)
                XCTAssertLessThan(maxAbsDifference(ours, theirs), 2e-6, "σ \(sigma) on \(w)×\(h)×\(c)")
                if w > 1 { XCTAssertGreaterThan(maxAbsDifference(ours, picture), 1e-3) }
            }
        }
        XCTAssertEqual(try GaussianBlur(sigma: 1).mask.count % 2, 1)
        XCTAssertEqual(Double(try GaussianBlur(sigma: 2).mask.reduce(0, +)), 1, accuracy: 1e-6)
        XCTAssertThrowsError(try GaussianBlur(sigma: 0))
    }

    func testEveryBlurSigmaAndMedianChangesTheImage() throws {
        let (_, noisy) = try pair(sigma: 0.2, seed: 1)
        for sigma in ClassicalDenoisers.blurSigmas {
            let blurred = try noisy.blurred(sigma: sigma)
            // Even σ 0.3 changes pixels by more than rounding (libvips' default mask cutoff
            // returned the image unchanged for σ ≤ 0.5).
            XCTAssertGreaterThan(maxAbsDifference(blurred, noisy), 1e-3, "blur σ \(sigma)")
        }
        for size in ClassicalDenoisers.medianSizes {
            XCTAssertGreaterThan(maxAbsDifference(try noisy.median(size: size), noisy), 0.05, "median \(size)")
        }
    }

    func testBlurMatchesAFullGaussianMaskAtSmallSigma() throws {
        // An impulse blurred with σ 0.4: the centre keeps the mask's peak, and the neighbour
        // weight is exp(−1 / (2σ²)) of it, as for a gaussian that is not cut short.
        var impulse = try PlanarImage(width: 15, height: 15, channels: 1, fill: 0)
        impulse[0, 7, 7] = 1
        let out = try impulse.blurred(sigma: 0.4)
        XCTAssertEqual(Double(out[0, 7, 8] / out[0, 7, 7]), exp(-1 / (2 * 0.16)), accuracy: 0.01)
        XCTAssertEqual(Double(out.pixels.reduce(0, +)), 1, accuracy: 0.01, "the mask sums to one")
    }

    func testTuningPicksALighterBlurForMilderNoise() throws {
        let mild = try pair(sigma: 0.05, seed: 2), heavy = try pair(sigma: 0.4, seed: 3)
        let mildBest = try ClassicalDenoisers.bestBlur([mild.noisy], clean: [mild.clean])
        let heavyBest = try ClassicalDenoisers.bestBlur([heavy.noisy], clean: [heavy.clean])
        XCTAssertLessThan(mildBest.sigma, heavyBest.sigma)
        for sigma in ClassicalDenoisers.blurSigmas {
            let psnr = try ClassicalDenoisers.meanPSNR(of: .blur(sigma: sigma), [heavy.noisy], clean: [heavy.clean])
            XCTAssertLessThanOrEqual(psnr, heavyBest.psnr, "σ \(sigma) is no better than the tuned one")
        }
        XCTAssertGreaterThan(heavyBest.psnr, try Metrics.psnr(heavy.noisy, heavy.clean) + 3)
    }
}
