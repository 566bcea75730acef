import Engine
import Evaluation
import IGN
import Imaging
import XCTest

/// `ign eval`'s figures, checked against what they are defined to be.
final class EvaluatorTests: XCTestCase {
    /// `count` smooth gray images (equal R, G, B) in [-0.6, 0.6]: little clipping under noise.
    func grayData(count: Int, seed: Double) -> Dataset {
        let shape = SampleShape(channels: 3, height: 28, width: 28)
        var values: [Float] = []
        for n in 0..<count {
            let plane = (0..<(28 * 28)).map { i -> Float in
                let x = Double(i % 28) / 28, y = Double(i / 28) / 28
                return Float(0.6 * sin(2 * Double.pi * (x + seed * Double(n) / 7)) * cos(Double.pi * y))
            }
            values += plane + plane + plane
        }
        return Dataset(shape: shape, values: values)
    }

    func testFiguresMatchTheirDefinitions() throws {
        let model = try IGNModel(architecture: .tiny28, channels: 3)
        model.initialize(seed: 4)
        try model.recalibrateBatchNorm(on: grayData(count: 32, seed: 0.3), batches: 20, batch: 16, threads: 1)
        let test = grayData(count: 12, seed: 1)
        var options = EvaluationOptions()
        options.noiseSigmas = [0.1]
        let report = try Evaluator(model: model, options: options, threads: 1).evaluate(test: test, validation: nil, name: "tiny")
        XCTAssertEqual(report.samples, 12)
        XCTAssertEqual(report.blurTunedOn, "test")
        XCTAssertEqual(report.drift.map(\.source), ["test", "test", "test", "noise", "noise", "noise"])
        XCTAssertEqual(report.drift.map(\.applications), [1, 2, 3, 1, 2, 3])

        // Reconstruction is the mean PSNR of f(x) against x, computed here independently.
        let fx = Projector(model: model, threads: 1).apply(test.values, count: 12, steps: 1)[0]
        var psnrs: [Double] = []
        for i in 0..<12 {
            let range = (i * 2352)..<((i + 1) * 2352)
            let a = try PlanarImage(width: 28, height: 28, channels: 3, pixels: Array(fx[range]))
            let b = try PlanarImage(width: 28, height: 28, channels: 3, pixels: Array(test.values[range]))
            psnrs.append(try Metrics.psnr(a, b))
        }
        XCTAssertEqual(report.reconstructionPSNR, psnrs.reduce(0, +) / 12, accuracy: 1e-9)
        // Drift after one application is RMS(f(f(x)) − f(x)).
        let ffx = Projector(model: model, threads: 1).apply(fx, count: 12, steps: 1)[0]
        var rms: [Double] = []
        for i in 0..<12 {
            var sum = 0.0
            for j in (i * 2352)..<((i + 1) * 2352) {
                let d = Double(ffx[j] - fx[j])
                sum += d * d
            }
            rms.append((sum / 2352).squareRoot())
        }
        XCTAssertEqual(report.drift[0].rms.mean, rms.reduce(0, +) / 12, accuracy: 1e-6)

        // Noise of σ 0.1 on the 0…1 scale is 0.2 on [-1, 1]: PSNR 10·log10(4 / 0.04) = 20 dB.
        let denoising = try XCTUnwrap(report.denoising.first)
        XCTAssertEqual(denoising.noisyPSNR, 20, accuracy: 0.3)
        XCTAssertTrue(ClassicalDenoisers.blurSigmas.contains(denoising.blurSigma))
        XCTAssertGreaterThan(denoising.blurPSNR, denoising.noisyPSNR + 3, "blurring smooth images removes noise")

        // The data are gray already: gray input and lightness + chroma of f(gray) differ from
        // the original only by rounding and by f's chroma, and the gray input not at all.
        let colorization = try XCTUnwrap(report.colorization)
        XCTAssertLessThan(colorization.grayDeltaE, 0.5)
        XCTAssertGreaterThan(colorization.grayPSNR, 40)

        let tuned = try Evaluator(model: model, options: options, threads: 1).evaluate(test: test, validation: grayData(count: 8, seed: 2), name: "tiny")
        XCTAssertEqual(tuned.blurTunedOn, "validation")
        XCTAssertTrue(tuned.table.contains("blur (σ* on validation)"), tuned.table)
        XCTAssertEqual(tuned.reconstructionPSNR, report.reconstructionPSNR, "validation data only tune the baseline")
    }
}
