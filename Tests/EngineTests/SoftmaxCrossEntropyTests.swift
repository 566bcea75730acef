import Basics
import Engine
import XCTest

final class SoftmaxCrossEntropyTests: XCTestCase {
    /// `python3 scripts/torch_reference.py cross-entropy` (F.cross_entropy, PyTorch 2.15): 3 samples, 5 classes,
    /// one row of equal scores and one whose scores would overflow exp without the shift.
    func testMatchesPyTorch() {
        let logits: [Float] = [2, 0, -30, -1, 0, 40, 0.5, 0, 10, 3, 0, -5, -2.5, 0, 39.5]
        let torchGradient: [Float] = [0.0832852796, 0.0666666627, 8.2485332e-32, 0.00414652936, -0.266666681, 0.207486451,
                                      0.0185834598, 0.0666666627, -0.333333343, -0.106940471, 0.0666666627, 5.93934825e-21,
                                      0.000925215776, 0.0666666627, 0.125846893]
        var gradient = [Float](repeating: .nan, count: logits.count)
        let loss = SoftmaxCrossEntropy.loss(logits: logits, labels: [3, 1, 2], classes: 5, gradient: &gradient)
        XCTAssertEqual(loss, 10.8234624863, accuracy: 1e-6)
        for (ours, theirs) in zip(gradient, torchGradient) { XCTAssertEqual(ours, theirs, accuracy: 1e-7) }
        XCTAssertEqual(SoftmaxCrossEntropy.predictions(logits: logits, count: 3, classes: 5), [3, 0, 1])
    }

    /// Central finite differences of the loss against the analytic gradient, on random scores.
    func testGradientMatchesFiniteDifferences() {
        var rng = RandomSource(seed: 5)
        let n = 6, classes = 10
        var logits = rng.normals(n * classes, std: 3)
        let labels = (0..<n).map { _ in Int(rng.next() % UInt64(classes)) }
        var gradient = [Float](repeating: 0, count: logits.count)
        _ = SoftmaxCrossEntropy.loss(logits: logits, labels: labels, classes: classes, gradient: &gradient)
        let h: Float = 1e-2
        var worst = 0.0
        for k in logits.indices {
            let saved = logits[k]
            logits[k] = saved + h
            let up = SoftmaxCrossEntropy.loss(logits: logits, labels: labels, classes: classes), upAt = logits[k]
            logits[k] = saved - h
            let down = SoftmaxCrossEntropy.loss(logits: logits, labels: labels, classes: classes), downAt = logits[k]
            logits[k] = saved
            let numeric = (up - down) / Double(upAt - downAt)
            worst = max(worst, abs(numeric - Double(gradient[k])))
        }
        XCTAssertLessThan(worst, 1e-5, "largest |finite difference − analytic gradient|")
        // The gradient of a mean over samples sums to 0 over the classes of each sample.
        for i in 0..<n { XCTAssertEqual((0..<classes).reduce(0) { $0 + gradient[$1 * n + i] }, 0, accuracy: 1e-6) }
    }
}
