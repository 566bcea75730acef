import Foundation

/// Pointwise activations. Each backward reads the forward's *output*, so no input is kept.
public enum Activation: Equatable, Sendable {
    case relu
    case leakyReLU(slope: Float)
    case tanh

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEach(count) { r in
            switch self {
            case .relu:
                for i in r { y[i] = x[i] > 0 ? x[i] : 0 }
            case .leakyReLU(let slope):
                for i in r { y[i] = x[i] > 0 ? x[i] : x[i] * slope }
            case .tanh:
                for i in r { y[i] = Foundation.tanh(x[i]) }
            }
        }
    }

    /// `dx = dy · f'(x)`, computed from the output `y` (ReLU-family: `y > 0 ⇔ x > 0`).
    public func backward(dy: UnsafePointer<Float>, y: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEach(count) { r in
            switch self {
            case .relu:
                for i in r { dx[i] = y[i] > 0 ? dy[i] : 0 }
            case .leakyReLU(let slope):
                for i in r { dx[i] = y[i] > 0 ? dy[i] : dy[i] * slope }
            case .tanh:
                for i in r { dx[i] = dy[i] * (1 - y[i] * y[i]) }
            }
        }
    }
}
