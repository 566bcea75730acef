import Foundation

/// BatchNorm2d over a channel-major batch: each channel's N·H·W values are contiguous.
/// PyTorch's semantics: eps 1e-5, momentum 0.1; training normalises with the biased batch
/// variance and feeds the unbiased one into `running_var`.
public enum BatchNorm {
    public static let eps: Float = 1e-5
    public static let momentum: Float = 0.1

    /// Training-mode forward. Writes `y`, saves per-channel `mean` and `invStd` for the backward,
    /// and, when `running` is given, updates running mean/variance (each `channels` long).
    public static func forwardTrain(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                    mean: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>,
                                    running: (mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>)?,
                                    channels: Int, perChannel m: Int) {
        Parallel.forEach(channels, costPerItem: 3 * m) { range in
            for c in range {
                let src = x + c * m, dst = y + c * m
                var sum = 0.0
                for i in 0..<m { sum += Double(src[i]) }
                let mu = sum / Double(m)
                var sq = 0.0
                for i in 0..<m { let d = Double(src[i]) - mu; sq += d * d }
                let variance = sq / Double(m)
                let inv = 1 / (variance + Double(eps)).squareRoot()
                mean[c] = Float(mu)
                invStd[c] = Float(inv)
                let scale = Float(inv) * gamma[c], shift = beta[c] - Float(mu) * scale
                for i in 0..<m { dst[i] = src[i] * scale + shift }
                if let running {
                    let unbiased = m > 1 ? sq / Double(m - 1) : variance
                    running.mean[c] = (1 - momentum) * running.mean[c] + momentum * Float(mu)
                    running.variance[c] = (1 - momentum) * running.variance[c] + momentum * Float(unbiased)
                }
            }
        }
    }

    /// Evaluation-mode forward with the running statistics.
    public static func forwardEval(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                   gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                                   runningMean: UnsafePointer<Float>, runningVariance: UnsafePointer<Float>,
                                   channels: Int, perChannel m: Int) {
        Parallel.forEach(channels, costPerItem: m) { range in
            for c in range {
                let scale = gamma[c] / (runningVariance[c] + eps).squareRoot()
                let shift = beta[c] - runningMean[c] * scale
                let src = x + c * m, dst = y + c * m
                for i in 0..<m { dst[i] = src[i] * scale + shift }
            }
        }
    }

    /// Training-mode backward: `dx = γ·σ⁻¹/m · (m·dy − Σdy − x̂·Σ(dy·x̂))`, with
    /// `dγ += Σ dy·x̂` and `dβ += Σ dy` when parameter gradients are wanted.
    public static func backwardTrain(dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                     gamma: UnsafePointer<Float>, mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                     gammaGrad: UnsafeMutablePointer<Float>?, betaGrad: UnsafeMutablePointer<Float>?,
                                     dx: UnsafeMutablePointer<Float>?, channels: Int, perChannel m: Int) {
        Parallel.forEach(channels, costPerItem: 3 * m) { range in
            for c in range {
                let g = dy + c * m, src = x + c * m
                let mu = mean[c], inv = invStd[c]
                var sumDy: Float = 0, sumDyXhat: Float = 0
                for i in 0..<m {
                    sumDy += g[i]
                    sumDyXhat += g[i] * (src[i] - mu) * inv
                }
                if let gammaGrad, let betaGrad {
                    gammaGrad[c] += sumDyXhat
                    betaGrad[c] += sumDy
                }
                if let dx {
                    let out = dx + c * m
                    let k = gamma[c] * inv / Float(m)
                    let meanDy = sumDy, meanDyXhat = sumDyXhat
                    for i in 0..<m {
                        let xhat = (src[i] - mu) * inv
                        out[i] = k * (Float(m) * g[i] - meanDy - xhat * meanDyXhat)
                    }
                }
            }
        }
    }
}
