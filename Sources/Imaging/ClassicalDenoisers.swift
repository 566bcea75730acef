/// The classical denoisers a model is measured against, in one place, so that `ign eval` and
/// the pipeline's `baseline` measure report the same thing: a gaussian blur with its σ tuned on
/// data, and median filters.
public enum ClassicalDenoisers {
    /// One classical filter.
    public enum Filter: Equatable, Sendable, CustomStringConvertible {
        /// ``PlanarImage/blurred(sigma:)``.
        case blur(sigma: Double)
        /// ``PlanarImage/median(size:)``.
        case median(size: Int)

        /// `image` filtered.
        public func apply(to image: PlanarImage) throws -> PlanarImage {
            switch self {
            case .blur(let sigma): return try image.blurred(sigma: sigma)
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
