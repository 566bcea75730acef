import Basics
import Engine

/// Stein's unbiased risk estimate of f's mean squared error on Gaussian-noisy inputs, with the
/// divergence from one Monte-Carlo probe (Ramani, Blu & Unser 2008). For a sample z = x + e of N
/// values, e ~ N(0, s²I):
///
///     SURE = |f(z) − z|²/N − s² + (2s²/N)·bᵀ(f(z + εb) − f(z))/ε,   b ~ N(0, I),
///
/// whose expectation over e and b is E|f(z) − x|²/N, to first order in ε. It needs z and s alone,
/// never the clean x. The noise must be Gaussian: unclamped (`gaussian:σ` sources), since clamping
/// to [-1, 1] both shrinks and shifts it where the image is bright or dark, and SURE then pulls f
/// toward mid-gray. Batches are channel-major, as the objective's.
struct SURE {
    let shape: SampleShape
    let batch: Int
    /// Per sample: the noise variance s² on the [-1, 1] scale (0: the sample is not estimated).
    let variances: [Float]
    /// Per sample: the probe's step ε = s/10 (0 where not estimated): smaller steps lose the divergence to
    /// float32 rounding (f(z + εb) − f(z) is divided by ε), larger ones average it over a wider neighbourhood.
    let steps: [Float]
    /// The probe b, channel-major like the batch, drawn from a seed that hashes z itself, so a step
    /// is reproducible from its inputs (a resumed run draws what the uninterrupted one did).
    let probe: [Float]

    /// For noise σ (0–1 units, 0 or nil where a sample is not noisy) of each of the `batch` samples
    /// of `z`; nil when no sample is noisy.
    init?(sigmas: [Double?], z: UnsafePointer<Float>, batch n: Int, shape: SampleShape) {
        self.shape = shape; batch = n
        variances = (0..<n).map { i in
            guard sigmas.indices.contains(i), let sigma = sigmas[i], sigma > 0 else { return 0 }
            return Float(4 * sigma * sigma)
        }
        guard variances.contains(where: { $0 > 0 }) else { return nil }
        steps = variances.map { $0.squareRoot() / 10 }
        let bytes = UnsafeRawBufferPointer(start: z, count: n * shape.count * MemoryLayout<Float>.size)
        var rng = RandomSource(seed: FNV1a64.hash(bytes))
        probe = rng.normals(n * shape.count)
    }

    /// Calls `body(sample, element offset)` for every value of every estimated sample.
    private func forEachValue(_ body: (Int, Int) -> Void) {
        let plane = shape.height * shape.width
        for ch in 0..<shape.channels {
            for i in 0..<batch where variances[i] > 0 {
                let base = (ch * batch + i) * plane
                for k in base..<(base + plane) { body(i, k) }
            }
        }
    }

    /// Writes z + ε_i·b_i for the estimated samples, z for the others, into `out` (the batch's size).
    func perturb(_ z: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        out.update(from: z, count: batch * shape.count)
        forEachValue { i, k in out[k] += steps[i] * probe[k] }
    }

    /// ``perturb(_:into:)`` as an array.
    func perturbed(_ z: UnsafePointer<Float>) -> [Float] {
        [Float](unsafeUninitializedCapacity: batch * shape.count) { buffer, count in
            perturb(z, into: buffer.baseAddress!)
            count = batch * shape.count
        }
    }

    /// Per sample, the estimate (0 for samples not estimated), from f(z) and f(z + εb).
    func perSample(_ fz: UnsafePointer<Float>, _ fzProbed: UnsafePointer<Float>, _ z: UnsafePointer<Float>) -> [Double] {
        var squares = [Double](repeating: 0, count: batch), divergence = squares
        forEachValue { i, k in
            let r = Double(fz[k]) - Double(z[k])
            squares[i] += r * r
            divergence[i] += Double(probe[k]) * (Double(fzProbed[k]) - Double(fz[k])) / Double(steps[i])
        }
        let count = Double(shape.count)
        return (0..<batch).map { i in
            let s2 = Double(variances[i])
            return s2 == 0 ? 0 : squares[i] / count - s2 + 2 * s2 * divergence[i] / count
        }
    }

    /// Adds `weight · Σ_i ∂SURE_i/∂f(z)` into `gradFZ` and `weight · Σ_i ∂SURE_i/∂f(z + εb)` into `gradProbed`.
    func accumulateGradient(_ fz: UnsafePointer<Float>, _ z: UnsafePointer<Float>, weight: Float,
                            gradFZ: UnsafeMutablePointer<Float>, gradProbed: UnsafeMutablePointer<Float>) {
        let w = weight / Float(shape.count)
        forEachValue { i, k in
            let pull = 2 * variances[i] / steps[i] * probe[k]
            gradFZ[k] += w * (2 * (fz[k] - z[k]) - pull)
            gradProbed[k] += w * pull
        }
    }
}
