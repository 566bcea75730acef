/// Additive Gaussian pixel noise, the one definition that `ign run`'s `noise:σ`, `ign eval`'s
/// denoising figures and `ign calibrate`'s noisy samples share.
public enum PixelNoise {
    /// Adds N(0, (2σ)²) to every value of `pixels` (values on the [-1, 1] scale, so σ is in units
    /// of the 0–1 pixel range) and clamps the results to [-1, 1] unless `clamped` is false (then the
    /// noise is exactly Gaussian, as the SURE term needs). Draws `pixels.count` normals
    /// from `rng`; σ = 0 changes nothing and draws none.
    public static func add(to pixels: UnsafeMutableBufferPointer<Float>, sigma: Double, clamped: Bool = true, rng: inout RandomSource) {
        precondition(sigma.isFinite && sigma >= 0, "noise σ must be finite and ≥ 0")
        guard sigma > 0, !pixels.isEmpty else { return }
        let noise = rng.normals(pixels.count, std: Float(2 * sigma))
        for i in pixels.indices { pixels[i] = clamped ? min(1, max(-1, pixels[i] + noise[i])) : pixels[i] + noise[i] }
    }

    /// ``add(to:sigma:clamped:rng:)`` over an array.
    public static func add(to pixels: inout [Float], sigma: Double, clamped: Bool = true, rng: inout RandomSource) {
        pixels.withUnsafeMutableBufferPointer { add(to: $0, sigma: sigma, clamped: clamped, rng: &rng) }
    }
}
