/// Per-sample mean distances between two batches: the building block of the IGN losses.
public enum Distance: String, CaseIterable, Sendable {
    /// Mean absolute difference.
    case l1
    /// Mean squared difference.
    case l2

    /// `D_i = mean over sample i's elements of |a−b|` (L1) or `(a−b)²` (L2), for channel-major batches,
    /// accumulated in double precision.
    public func perSample(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, batch n: Int, shape: SampleShape) -> [Double] {
        var sums = [Double](repeating: 0, count: n)
        ChannelMajor.forEachRun(batch: n, shape: shape) { sample, run in
            var s = 0.0
            switch self {
            case .l1: for i in run { s += Double(abs(a[i] - b[i])) }
            case .l2: for i in run { let d = Double(a[i]) - Double(b[i]); s += d * d }
            }
            sums[sample] += s
        }
        return sums.map { $0 / Double(shape.count) }
    }

    /// Adds `Σ_i weight_i · ∂D_i/∂a` into `gradA` and, when given, `Σ_i weight_i · ∂D_i/∂b` into `gradB`.
    /// The L1 derivative at a = b is 0, as PyTorch's `sign`.
    public func accumulateGradient(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, weights: [Float],
                                   gradA: UnsafeMutablePointer<Float>?, gradB: UnsafeMutablePointer<Float>?,
                                   batch n: Int, shape: SampleShape) {
        let perElement = weights.map { $0 / Float(shape.count) }
        ChannelMajor.forEachRun(batch: n, shape: shape) { sample, run in
            let w = perElement[sample]
            for i in run {
                let d = a[i] - b[i]
                let g: Float
                switch self {
                case .l1: g = d > 0 ? w : (d < 0 ? -w : 0)
                case .l2: g = 2 * w * d
                }
                gradA?[i] += g
                gradB?[i] -= g
            }
        }
    }
}
