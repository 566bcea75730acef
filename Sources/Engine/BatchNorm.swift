/// BatchNorm2d over a channel-major batch (each channel's N·H·W values are contiguous), in the
/// pieces a data-parallel pass needs: each thread sums over its samples, the sums are combined,
/// then each thread normalises its samples. PyTorch's semantics: eps 1e-5, momentum 0.1;
/// training normalises with the biased batch variance and feeds the unbiased one into `running_var`.
public enum BatchNorm {
    public static let eps: Float = 1e-5
    public static let momentum: Float = 0.1

    /// Writes Σx (first `channels` values) and Σx² (next `channels`) over the samples `s`.
    public static func moments(_ x: UnsafePointer<Float>, _ s: SampleRange, channels: Int, plane: Int,
                               into out: UnsafeMutablePointer<Double>) {
        for c in 0..<channels {
            let run = channelRun(UnsafeMutablePointer(mutating: x), channel: c, s, plane: plane)
            var sum = 0.0, sq = 0.0
            for v in run { let d = Double(v); sum += d; sq += d * d }
            out[c] = sum
            out[channels + c] = sq
        }
    }

    /// Mean and 1/σ (biased variance) from summed moments over `m` values; updates running statistics when given.
    public static func statistics(moments: UnsafePointer<Double>, channels: Int, count m: Int,
                                  mean: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>,
                                  running: (mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>)?) {
        for c in 0..<channels {
            let mu = moments[c] / Double(m)
            let variance = max(0, moments[channels + c] / Double(m) - mu * mu)
            mean[c] = Float(mu)
            invStd[c] = Float(1 / (variance + Double(eps)).squareRoot())
            if let running {
                let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
                running.mean[c] = (1 - momentum) * running.mean[c] + momentum * Float(mu)
                running.variance[c] = (1 - momentum) * running.variance[c] + momentum * Float(unbiased)
            }
        }
    }

    /// `y = (x − mean)·invStd·γ + β` for the samples `s`.
    public static func normalize(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ s: SampleRange,
                                 channels: Int, plane: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                 mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>) {
        for c in 0..<channels {
            let scale = invStd[c] * gamma[c], shift = beta[c] - mean[c] * scale
            let src = channelRun(UnsafeMutablePointer(mutating: x), channel: c, s, plane: plane)
            let dst = channelRun(y, channel: c, s, plane: plane)
            for i in 0..<src.count { dst[i] = src[i] * scale + shift }
        }
    }

    /// Evaluation mode: normalises with the running statistics.
    public static func normalizeEval(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ s: SampleRange,
                                     channels: Int, plane: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                     runningMean: UnsafePointer<Float>, runningVariance: UnsafePointer<Float>) {
        for c in 0..<channels {
            let scale = gamma[c] / (runningVariance[c] + eps).squareRoot(), shift = beta[c] - runningMean[c] * scale
            let src = channelRun(UnsafeMutablePointer(mutating: x), channel: c, s, plane: plane)
            let dst = channelRun(y, channel: c, s, plane: plane)
            for i in 0..<src.count { dst[i] = src[i] * scale + shift }
        }
    }

    /// Writes Σdy (first `channels`) and Σdy·x̂ (next `channels`) over the samples `s`.
    public static func backwardSums(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, _ s: SampleRange,
                                    channels: Int, plane: Int, mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                    into out: UnsafeMutablePointer<Double>) {
        for c in 0..<channels {
            let g = channelRun(UnsafeMutablePointer(mutating: dy), channel: c, s, plane: plane)
            let src = channelRun(UnsafeMutablePointer(mutating: x), channel: c, s, plane: plane)
            let mu = mean[c], inv = invStd[c]
            var sumDy: Float = 0, sumDyXhat: Float = 0
            for i in 0..<g.count {
                sumDy += g[i]
                sumDyXhat += g[i] * (src[i] - mu) * inv
            }
            out[c] = Double(sumDy)
            out[channels + c] = Double(sumDyXhat)
        }
    }

    /// `dx = γ·σ⁻¹/m · (m·dy − Σdy − x̂·Σ(dy·x̂))` for the samples `s`, from sums over all `m` values.
    public static func backwardInput(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                     _ s: SampleRange, channels: Int, plane: Int, gamma: UnsafePointer<Float>,
                                     mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                     sums: UnsafePointer<Double>, count m: Int) {
        for c in 0..<channels {
            let g = channelRun(UnsafeMutablePointer(mutating: dy), channel: c, s, plane: plane)
            let src = channelRun(UnsafeMutablePointer(mutating: x), channel: c, s, plane: plane)
            let out = channelRun(dx, channel: c, s, plane: plane)
            let mu = mean[c], inv = invStd[c], k = gamma[c] * inv / Float(m)
            let sumDy = Float(sums[c]), sumDyXhat = Float(sums[channels + c]), fm = Float(m)
            for i in 0..<g.count {
                let xhat = (src[i] - mu) * inv
                out[i] = k * (fm * g[i] - sumDy - xhat * sumDyXhat)
            }
        }
    }
}
