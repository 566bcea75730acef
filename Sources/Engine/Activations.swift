import CGemm

/// Pointwise activations. Each backward reads the forward's *output*, so no input is kept.
public enum Activation: Equatable, Sendable {
    case relu
    case leakyReLU(slope: Float)
    case tanh

    /// `y = f(x)` over the samples `s` of a channel-major batch, for the channels given.
    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ s: SampleRange, channels: Range<Int>,
                        plane: Int) {
        for c in channels {
            let src = channelRun(UnsafeMutablePointer(mutating: x), channel: c, s, plane: plane)
            let dst = channelRun(y, channel: c, s, plane: plane)
            switch self {
            case .relu:
                for i in 0..<src.count { dst[i] = src[i] > 0 ? src[i] : 0 }
            case .leakyReLU(let slope):
                for i in 0..<src.count { dst[i] = src[i] > 0 ? src[i] : src[i] * slope }
            case .tanh:
                ign_tanh(src.baseAddress!, dst.baseAddress!, src.count)
            }
        }
    }

    /// `dx = dy · f'(x)`, computed from the output `y` (ReLU-family: `y > 0 ⇔ x > 0`).
    public func backward(dy: UnsafePointer<Float>, y: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, _ s: SampleRange,
                         channels: Int, plane: Int) {
        for c in 0..<channels {
            let g = channelRun(UnsafeMutablePointer(mutating: dy), channel: c, s, plane: plane)
            let out = channelRun(UnsafeMutablePointer(mutating: y), channel: c, s, plane: plane)
            let d = channelRun(dx, channel: c, s, plane: plane)
            // Both operands are read before the comparison, so that it compiles to a vector
            // select rather than a branch on the data (which mispredicts half the time).
            switch self {
            case .relu:
                for i in 0..<g.count { let gi = g[i]; d[i] = out[i] > 0 ? gi : 0 }
            case .leakyReLU(let slope):
                for i in 0..<g.count { let gi = g[i]; d[i] = out[i] > 0 ? gi : gi * slope }
            case .tanh:
                for i in 0..<g.count { d[i] = g[i] * (1 - out[i] * out[i]) }
            }
        }
    }
}
