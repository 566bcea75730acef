/// Conversions between the sample-major NCHW layout of files and images and the
/// channel-major `[C][N][H][W]` layout the network computes in.
public enum Layout {
    /// NCHW → CNHW.
    public static func toChannelMajor(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                      batch n: Int, shape: SampleShape) {
        let plane = shape.height * shape.width
        for b in 0..<n {
            for c in 0..<shape.channels {
                (dst + (c * n + b) * plane).update(from: src + (b * shape.channels + c) * plane, count: plane)
            }
        }
    }

    /// CNHW → NCHW.
    public static func toSampleMajor(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                     batch n: Int, shape: SampleShape) {
        let plane = shape.height * shape.width
        for b in 0..<n {
            for c in 0..<shape.channels {
                (dst + (b * shape.channels + c) * plane).update(from: src + (c * n + b) * plane, count: plane)
            }
        }
    }

    /// Calls `body(sample, range)` for each contiguous run of a sample's values in a
    /// channel-major batch (one run per channel).
    @inline(__always)
    public static func forEachRun(batch n: Int, shape: SampleShape, _ body: (Int, Range<Int>) -> Void) {
        let plane = shape.height * shape.width
        for c in 0..<shape.channels {
            for b in 0..<n {
                let start = (c * n + b) * plane
                body(b, start..<(start + plane))
            }
        }
    }
}

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
        Layout.forEachRun(batch: n, shape: shape) { sample, run in
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
        Layout.forEachRun(batch: n, shape: shape) { sample, run in
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
