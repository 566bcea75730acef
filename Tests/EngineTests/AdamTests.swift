import Engine
import XCTest

final class AdamTests: XCTestCase {
    /// Two steps against the update written out by hand (PyTorch's formula).
    func testMatchesHandComputedSteps() throws {
        let net = try Network(input: SampleShape(channels: 1, height: 1, width: 1), layers: [("bn", .batchNorm2d(channels: 1))])
        let store = net.store  // two parameters: weight, bias
        store.parameters[0] = 1.0; store.parameters[1] = -0.5
        var adam = Adam(learningRate: 0.1, beta1: 0.5, beta2: 0.999, eps: 1e-8)
        var p = [1.0, -0.5], m = [0.0, 0.0], v = [0.0, 0.0]
        for (t, grads) in [[0.2, -3.0], [-0.1, 1.0]].enumerated() {
            store.gradients[0] = Float(grads[0]); store.gradients[1] = Float(grads[1])
            adam.update(store)
            let step = Double(t + 1)
            for i in 0..<2 {
                m[i] = 0.5 * m[i] + 0.5 * grads[i]
                v[i] = 0.999 * v[i] + 0.001 * grads[i] * grads[i]
                let mHat = m[i] / (1 - pow(0.5, step)), vHat = v[i] / (1 - pow(0.999, step))
                p[i] -= 0.1 * mHat / (vHat.squareRoot() + 1e-8)
                XCTAssertEqual(Double(store.parameters[i]), p[i], accuracy: 1e-6, "step \(t + 1), parameter \(i)")
                XCTAssertEqual(Double(store.adamM[i]), m[i], accuracy: 1e-7)
                XCTAssertEqual(Double(store.adamV[i]), v[i], accuracy: 1e-7)
            }
        }
        XCTAssertEqual(adam.step, 2)
        // The first Adam step moves every parameter by about lr, whatever the gradient's scale.
        XCTAssertEqual(p[0], 1.0 - 0.1 * (0.1 / 0.1) + 0.1 * 0.0, accuracy: 0.2)
    }
}
