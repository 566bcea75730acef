import Basics
import CVips
import Foundation

/// How ``Corruption/sketch(_:)`` finds edges.
public enum SketchMethod: String, Sendable, CaseIterable {
    /// libvips sobel: gradient magnitude, thick and strong lines.
    case sobel
    /// libvips canny (σ = 1.4): thin, non-maximum-suppressed gradient magnitude.
    case canny
}

/// A deterministic degradation of an image: the "corrupted" input an idempotent network
/// learns to project back onto the image manifold.
///
/// Results depend only on the image and the seed. Spec strings (for pipeline files):
/// `noise:0.2`, `gaussian:0.2`, `grayscale`, `sketch` / `sketch:sobel` / `sketch:canny`, `blur:1.5`,
/// `jpeg:20`, `holes:4:8` (count, size).
public enum Corruption: Equatable, Sendable, CustomStringConvertible {
    /// Additive Gaussian noise with standard deviation `sigma` in units of the 0–1 pixel
    /// range, seeded, clamped to the valid range (``PixelNoise``, as `ign eval` and
    /// `ign calibrate` add it).
    case noise(sigma: Double)
    /// The same noise left unclamped (`gaussian:σ`): values may leave [-1, 1], so the noise is
    /// exactly Gaussian, as training sources for the SURE term need. Images written from it are clamped.
    case gaussian(sigma: Double)
    /// Luminance (see ``PlanarImage/luminance()``), replicated to 3 channels for colour images.
    case grayscale
    /// An edge map of the luminance as dark lines on white (a pencil-sketch look), with the
    /// input's channel count. Flat regions are exactly white (+1).
    case sketch(SketchMethod)
    /// Gaussian blur with `sigma` in pixels (libvips gaussblur).
    case blur(sigma: Double)
    /// A JPEG round trip at `quality` 1...100 (libvips jpegsave/jpegload).
    case jpeg(quality: Int)
    /// `count` squares of `size` × `size` pixels at seeded positions, filled with mid-grey
    /// (0, the network's neutral value).
    case holes(count: Int, size: Int)

    /// The largest noise σ a spec may give (0–1 units: far past the point where nothing of the image is left).
    public static let maxNoiseSigma = 10.0
    /// The largest blur σ a spec may give, in pixels (libvips' own limit).
    public static let maxBlurSigma = 1000.0
    /// The most holes a spec may give.
    public static let maxHoles = 1000

    /// Parses a spec such as `noise:0.2` or `holes:4:8` (case-insensitive, spaces ignored).
    public init(parsing spec: String) throws {
        let parts = spec.lowercased().filter { !$0.isWhitespace }.split(separator: ":", omittingEmptySubsequences: false)
            .map(String.init)
        func bad(_ why: String) -> ImagingError {
            ImagingError(.invalidArgument, path: nil, "bad corruption \"\(spec)\": \(why)")
        }
        func number(_ i: Int, _ name: String) throws -> Double {
            guard i < parts.count, let v = Double(parts[i]), v.isFinite else { throw bad("\(name) must be a number") }
            return v
        }
        func integer(_ i: Int, _ name: String) throws -> Int {
            guard i < parts.count, let v = Int(parts[i]) else { throw bad("\(name) must be an integer") }
            return v
        }
        func arity(_ allowed: ClosedRange<Int>) throws {
            guard allowed.contains(parts.count - 1) else {
                throw bad("expected \(allowed.lowerBound == allowed.upperBound ? "\(allowed.lowerBound)" : "\(allowed)") parameter(s)")
            }
        }
        switch parts.first ?? "" {
        case "noise":
            try arity(1...1)
            let sigma = try number(1, "sigma")
            guard (0...Corruption.maxNoiseSigma).contains(sigma) else { throw bad("sigma must be 0...\(Corruption.maxNoiseSigma)") }
            self = .noise(sigma: sigma)
        case "gaussian":
            try arity(1...1)
            let sigma = try number(1, "sigma")
            guard (0...Corruption.maxNoiseSigma).contains(sigma) else { throw bad("sigma must be 0...\(Corruption.maxNoiseSigma)") }
            self = .gaussian(sigma: sigma)
        case "grayscale", "greyscale", "gray", "grey":
            try arity(0...0)
            self = .grayscale
        case "sketch":
            try arity(0...1)
            if parts.count == 1 { self = .sketch(.sobel); return }
            guard let method = SketchMethod(rawValue: parts[1]) else { throw bad("method must be sobel or canny") }
            self = .sketch(method)
        case "blur":
            try arity(1...1)
            let sigma = try number(1, "sigma")
            guard (0...Corruption.maxBlurSigma).contains(sigma) else { throw bad("sigma must be 0...\(Corruption.maxBlurSigma)") }
            self = .blur(sigma: sigma)
        case "jpeg", "jpg":
            try arity(1...1)
            let quality = try integer(1, "quality")
            guard (1...100).contains(quality) else { throw bad("quality must be 1...100") }
            self = .jpeg(quality: quality)
        case "holes":
            try arity(2...2)
            let count = try integer(1, "count"), size = try integer(2, "size")
            guard (0...Corruption.maxHoles).contains(count), size >= 1 else {
                throw bad("count must be 0...\(Corruption.maxHoles) and size ≥ 1")
            }
            self = .holes(count: count, size: size)
        default:
            throw bad("unknown kind (use noise, gaussian, grayscale, sketch, blur, jpeg or holes)")
        }
    }

    /// Parses a comma-separated chain such as `grayscale,noise:0.1`.
    public static func parseChain(_ specs: String) throws -> [Corruption] {
        try specs.split(separator: ",").map { try Corruption(parsing: String($0)) }
    }

    /// The spec string, which ``init(parsing:)`` reads back.
    public var description: String {
        switch self {
        case .noise(let sigma): return "noise:\(sigma)"
        case .gaussian(let sigma): return "gaussian:\(sigma)"
        case .grayscale: return "grayscale"
        case .sketch(let method): return "sketch:\(method.rawValue)"
        case .blur(let sigma): return "blur:\(sigma)"
        case .jpeg(let quality): return "jpeg:\(quality)"
        case .holes(let count, let size): return "holes:\(count):\(size)"
        }
    }

    /// A stable per-image seed: FNV-1a 64 of the path's UTF-8 bytes, mixed with the run
    /// seed by SplitMix64's finaliser. Identical on every run and platform.
    public static func seed(runSeed: UInt64, relativePath: String) -> UInt64 {
        RandomSource.mix(FNV1a64.hash(relativePath.utf8) ^ RandomSource.mix(runSeed))
    }

    /// Applies a chain in order; step `i` gets a seed derived from `seed` and `i`.
    public static func apply(_ chain: [Corruption], to image: PlanarImage, seed: UInt64) throws -> PlanarImage {
        var current = image
        for (i, corruption) in chain.enumerated() {
            current = try corruption.apply(to: current, seed: RandomSource.mix(seed &+ UInt64(i) &* RandomSource.golden))
        }
        return current
    }

    /// The corrupted image (same size and channel count); deterministic in `seed`.
    public func apply(to image: PlanarImage, seed: UInt64) throws -> PlanarImage {
        switch self {
        case .noise(let sigma): return try Corruption.addNoise(image, sigma: sigma, clamped: true, seed: seed)
        case .gaussian(let sigma): return try Corruption.addNoise(image, sigma: sigma, clamped: false, seed: seed)
        case .grayscale: return try image.luminance().converted(toChannels: image.channels)
        case .sketch(let method): return try Corruption.sketch(image, method: method)
        case .blur(let sigma):
            guard sigma >= 0 else { throw ImagingError(.invalidArgument, path: nil, "blur sigma must be ≥ 0") }
            return try image.blurred(sigma: sigma)
        case .jpeg(let quality): return try Corruption.jpegRoundTrip(image, quality: quality)
        case .holes(let count, let size): return try Corruption.holes(image, count: count, size: size, seed: seed)
        }
    }

    // MARK: - implementations

    static func addNoise(_ image: PlanarImage, sigma: Double, clamped: Bool, seed: UInt64) throws -> PlanarImage {
        guard sigma.isFinite, sigma >= 0 else {
            throw ImagingError(.invalidArgument, path: nil, "noise sigma must be finite and ≥ 0")
        }
        var result = image
        var rng = RandomSource(seed: seed)
        PixelNoise.add(to: &result.pixels, sigma: sigma, clamped: clamped, rng: &rng)
        return result
    }

    /// Gain on edge magnitude (0–255 scale) before it is drawn: darkness = min(1, gain × m / 255).
    /// Sobel saturates on photos, so it is toned down; canny's thinned magnitudes are about a
    /// fifth of sobel's for the same step (a full black/white step: sobel ≈ 254, canny ≈ 48).
    static func sketchGain(_ method: SketchMethod) -> Float { method == .sobel ? 0.6 : 10 }

    static func sketch(_ image: PlanarImage, method: SketchMethod) throws -> PlanarImage {
        let grey = try image.luminance().vipsBytes()
        let edges = try grey.apply("edge detection") { input, out in
            switch method {
            case .sobel: return ign_vips_sobel(input, out)
            case .canny: return ign_vips_canny(input, out, 1.4)
            }
        }
        let magnitude = try PlanarImage.fromVips(try edges.tagged(channels: 1))  // [-1, 1] ↔ 0…255
        let gain = sketchGain(method)
        var lines = magnitude
        for i in lines.pixels.indices {
            let strength = min(1, max(0, (magnitude.pixels[i] + 1) / 2 * gain))
            lines.pixels[i] = 1 - 2 * strength
        }
        return try lines.converted(toChannels: image.channels)
    }

    static func jpegRoundTrip(_ image: PlanarImage, quality: Int) throws -> PlanarImage {
        guard (1...100).contains(quality) else {
            throw ImagingError(.invalidArgument, path: nil, "JPEG quality must be 1...100, got \(quality)")
        }
        let bytes = try image.vipsBytes()
        var buffer: UnsafeMutableRawPointer?
        var length = 0
        guard ign_vips_jpegsave_buffer(bytes.pointer, &buffer, &length, Int32(quality)) == 0, let encoded = buffer else {
            throw ImagingError(.processingFailed, path: nil, "jpegsave failed: \(Vips.takeError())")
        }
        defer { ign_vips_free(encoded) }
        let decoded = try VImage.make(.processingFailed, path: nil, "jpegload") { out in
            ign_vips_jpegload_buffer(encoded, length, out)
        }
        let result = try PlanarImage.fromVips(decoded)
        return try result.converted(toChannels: image.channels)
    }

    static func holes(_ image: PlanarImage, count: Int, size: Int, seed: UInt64) throws -> PlanarImage {
        guard count >= 0, size >= 1 else {
            throw ImagingError(.invalidArgument, path: nil, "holes need count ≥ 0 and size ≥ 1")
        }
        var rng = RandomSource(seed: seed)
        var result = image
        let w = min(size, image.width), h = min(size, image.height)
        for _ in 0..<count {
            let x0 = Int(rng.next() % UInt64(image.width - w + 1))
            let y0 = Int(rng.next() % UInt64(image.height - h + 1))
            for c in 0..<image.channels {
                for y in y0..<(y0 + h) {
                    for x in x0..<(x0 + w) { result[c, y, x] = 0 }
                }
            }
        }
        return result
    }
}
