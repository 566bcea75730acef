import Basics
import Engine
@testable import IGN
import XCTest

/// The consistency term's twins of grayscale and sketch: their gradients against central finite
/// differences, element by element, on colour samples (the objective's test covers 1 channel), to 1% of
/// the largest element (float32 rounding in the differences; a wrong term is off by its whole size).
/// (Evaluation's tests check them against the corruptions themselves, on real images.)
final class CorruptionTwinTests: XCTestCase {
    func testGradientsMatchFiniteDifferences() throws {
        let shape = SampleShape(channels: 3, height: 8, width: 8), n = 2, plane = 64
        // Ramps rising to the right and down, so the sobel responses keep their signs (no |·| kink
        // within a finite difference): sample 0 gently (edge strength ≈ 0.3), sample 1 steeply to the
        // right (≈ 1.1 inside, above the 1 where the sketch saturates; ≈ 0.55 on the border columns);
        // each channel offset a little, with small noise.
        var rng = RandomSource(seed: 11)
        var a = [Float](repeating: 0, count: 3 * n * plane)
        for ch in 0..<3 {
            for i in 0..<n {
                let (across, down): (Float, Float) = i == 0 ? (0.04, 0.03) : (0.26, 0.01)
                for y in 0..<8 {
                    for x in 0..<8 {
                        a[(ch * n + i) * plane + y * 8 + x] = -0.9 + across * Float(x) + down * Float(y)
                            + 0.02 * Float(ch - 1) + 0.004 * rng.nextUniform()
                    }
                }
            }
        }
        // z: random sketch values, a fifth of them at the darkest a sketch draws (−0.2).
        var z = [Float](repeating: 0, count: 3 * n * plane)
        for k in 0..<(n * plane) { z[k] = rng.nextUniform() < 0.2 ? -0.2 : -0.2 + 1.2 * rng.nextUniform() }
        for distance in [Distance.l2, .l1] {
            for kind in [KeptProperty.luminance, .edges] {
                let twins = CorruptionTwins(shape: shape, distance: distance), kinds = [kind, kind], weights: [Float] = [1.5, 0.5]
                var grad = [Float](repeating: 0, count: a.count)
                twins.accumulateGradient(a, z, kinds: kinds, weights: weights, grad: &grad, batch: n)
                func loss(_ values: [Float]) -> Double {
                    zip(twins.perSample(values, z, kinds: kinds, batch: n), weights).reduce(0) { $0 + $1.0 * Double($1.1) }
                }
                let eps: Float = 1e-3
                var worst = 0.0, largest = 0.0
                for k in a.indices {
                    var up = a, down = a
                    up[k] += eps; down[k] -= eps
                    let numeric = (loss(up) - loss(down)) / Double(2 * eps)
                    worst = max(worst, abs(numeric - Double(grad[k])))
                    largest = max(largest, abs(Double(grad[k])))
                }
                XCTAssertGreaterThan(largest, 1e-3, "\(kind) \(distance): a gradient to check")
                XCTAssertLessThan(worst, 1e-2 * largest, "\(kind) \(distance)")
            }
        }
    }

    /// Worked by hand on a 1-channel 3×3 plane (luminance is the plane itself): a vertical step of
    /// 0.4 between columns 0 and 1 has |gx| = 4·0.4 at columns 0 and 1 (border replicated), so edge
    /// strength 0.8 there and 0 in column 2.
    func testEdgeStrengthByHand() throws {
        let shape = SampleShape(channels: 1, height: 3, width: 3)
        let a: [Float] = [0, 0.4, 0.4, 0, 0.4, 0.4, 0, 0.4, 0.4]
        // A sketch that draws exactly those strengths: 1 − 1.2·s.
        let drawn: [Float] = (0..<9).map { $0 % 3 == 2 ? 1 : 1 - 1.2 * 0.8 }
        let twins = CorruptionTwins(shape: shape, distance: .l1)
        XCTAssertEqual(twins.perSample(a, drawn, kinds: [.edges], batch: 1)[0], 0, accuracy: 1e-6)
        // A blank sketch: every strength is a gap of 1.2·0.8 at six pixels of nine.
        let blank = [Float](repeating: 1, count: 9)
        XCTAssertEqual(twins.perSample(a, blank, kinds: [.edges], batch: 1)[0], 6 * 1.2 * 0.8 / 9, accuracy: 1e-6)
        // A sketch at its darkest everywhere asks only for strength ≥ 1: 1.2·(1 − 0.8) at six pixels, 1.2 at three.
        let dark = [Float](repeating: -0.2, count: 9)
        XCTAssertEqual(twins.perSample(a, dark, kinds: [.edges], batch: 1)[0], (6 * 1.2 * 0.2 + 3 * 1.2) / 9, accuracy: 1e-5)
        // Noise and the model's noise have no twin.
        XCTAssertEqual(twins.perSample(a, blank, kinds: [.localMeans], batch: 1)[0], 0)
    }
}
