import CVips
import Foundation

/// The classical denoisers a model is measured against, in one place, so that `ign eval` and
/// the pipeline's `baseline` measure report the same thing: a gaussian blur with its σ tuned on
/// data, and median filters.
public enum ClassicalDenoisers {
    /// One classical filter.
    public enum Filter: Equatable, Sendable, CustomStringConvertible {
        /// ``PlanarImage/blurred(sigma:)``'s blur, computed by ``GaussianBlur``.
        case blur(sigma: Double)
        /// ``PlanarImage/median(size:)``.
        case median(size: Int)

        /// `image` filtered.
        public func apply(to image: PlanarImage) throws -> PlanarImage {
            switch self {
            case .blur(let sigma): return try GaussianBlur.cached(sigma: sigma).apply(to: image)
            case .median(let size): return try image.median(size: size)
            }
        }

        public var description: String {
            switch self {
            case .blur(let sigma): return "blur σ \(sigma)"
            case .median(let size): return "median \(size)×\(size)"
            }
        }
    }

    /// The blur σ (pixels) tried: fine at the low end, where mild noise wants a light blur.
    public static let blurSigmas: [Double] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0]
    /// The median windows' sides.
    public static let medianSizes = [3, 5]

    /// Mean PSNR against `clean` of `filter` applied to each of `noisy`.
    public static func meanPSNR(of filter: Filter, _ noisy: [PlanarImage], clean: [PlanarImage]) throws -> Double {
        precondition(noisy.count == clean.count && !noisy.isEmpty, "one clean image per noisy one")
        var sum = 0.0
        for (image, reference) in zip(noisy, clean) { sum += try Metrics.psnr(try filter.apply(to: image), reference) }
        return sum / Double(noisy.count)
    }

    /// The σ of ``blurSigmas`` whose blur gives `noisy` the best mean PSNR against `clean`,
    /// with that PSNR.
    public static func bestBlur(_ noisy: [PlanarImage], clean: [PlanarImage]) throws -> (sigma: Double, psnr: Double) {
        var best = (sigma: blurSigmas[0], psnr: -Double.infinity)
        for sigma in blurSigmas {
            let psnr = try meanPSNR(of: .blur(sigma: sigma), noisy, clean: clean)
            if psnr > best.psnr { best = (sigma, psnr) }
        }
        return best
    }
}

/// The gaussian blur of ``PlanarImage/blurred(sigma:)`` (libvips' own separable mask, cut at
/// ``PlanarImage/blurMaskCutoff``, edges copied) computed here in two passes: the same values to
/// float rounding, without libvips' per-call set-up, which dominates when a benchmark tries
/// twelve σ on each of many small images.
public struct GaussianBlur: Sendable {
    public let sigma: Double
    /// The normalised mask, centre in the middle (odd length).
    public let mask: [Float]

    public init(sigma: Double) throws {
        guard sigma.isFinite, sigma > 0 else {
            throw ImagingError(.invalidArgument, path: nil, "blur sigma must be positive and finite, got \(sigma)")
        }
        try Vips.ensureStarted()
        var values = [Double](repeating: 0, count: 4096)
        let width = ign_vips_gaussian_mask(sigma, PlanarImage.blurMaskCutoff, &values, Int32(values.count))
        guard width > 0, width % 2 == 1 else {
            throw ImagingError(.processingFailed, path: nil, "libvips gaussmat for σ \(sigma) failed (\(width))")
        }
        self.sigma = sigma
        mask = values.prefix(Int(width)).map { Float($0) }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: [Double: GaussianBlur] = [:]

    /// The blur for `sigma`, made once per process.
    public static func cached(sigma: Double) throws -> GaussianBlur {
        if let blur = lock.withLock({ made[sigma] }) { return blur }
        let blur = try GaussianBlur(sigma: sigma)
        lock.withLock { made[sigma] = blur }
        return blur
    }

    /// `image` blurred: rows, then columns, each position the mask-weighted sum of its
    /// neighbours, positions past an edge reading the edge pixel.
    public func apply(to image: PlanarImage) -> PlanarImage {
        let w = image.width, h = image.height, r = mask.count / 2
        var out = [Float](repeating: 0, count: image.pixels.count)
        var padded = [Float](repeating: 0, count: w + 2 * r), rows = [Float](repeating: 0, count: w * h)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<image.channels {
                    let plane = c * w * h
                    for y in 0..<h {
                        let line = plane + y * w
                        for x in 0..<(w + 2 * r) { padded[x] = src[line + min(max(x - r, 0), w - 1)] }
                        for x in 0..<w { rows[y * w + x] = 0 }
                        for (i, weight) in mask.enumerated() {
                            for x in 0..<w { rows[y * w + x] += weight * padded[x + i] }
                        }
                    }
                    for y in 0..<h {
                        let line = plane + y * w
                        for (i, weight) in mask.enumerated() {
                            let from = min(max(y + i - r, 0), h - 1) * w
                            for x in 0..<w { dst[line + x] += weight * rows[from + x] }
                        }
                        for x in 0..<w { dst[line + x] = min(max(dst[line + x], -1), 1) }
                    }
                }
            }
        }
        return PlanarImage(unchecked: w, h, image.channels, out)
    }
}
