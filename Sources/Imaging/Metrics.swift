import Basics
import Foundation

/// Image quality metrics between two ``PlanarImage``s of the same size and channel count.
/// All are computed on the 0–1 pixel scale (a [-1, 1] value v counts as (v + 1) / 2).
public enum Metrics {
    /// Mean squared error on the 0–1 scale, over all pixels and channels.
    public static func mse(_ a: PlanarImage, _ b: PlanarImage) throws -> Double {
        try checkSameShape(a, b)
        var sum = 0.0
        a.pixels.withUnsafeBufferPointer { p in
            b.pixels.withUnsafeBufferPointer { q in
                for i in 0..<p.count {
                    let d = Double(p[i] - q[i]) * 0.5
                    sum += d * d
                }
            }
        }
        return sum / Double(a.pixels.count)
    }

    /// Root mean square of `a − b` (of `a` when `b` is nil), on the values' own [-1, 1] scale,
    /// accumulated in double precision: the drift and distance figures of `ign run` and `ign eval`.
    /// `a` and `b` must have the same count; empty gives 0.
    @inlinable
    public static func rms<Values: Collection>(_ a: Values, _ b: Values? = nil) -> Double where Values.Element == Float {
        guard !a.isEmpty else { return 0 }
        var sum = 0.0
        if let b {
            precondition(a.count == b.count, "rms of \(a.count) and \(b.count) values")
            for (x, y) in zip(a, b) {
                let d = Double(x - y)
                sum += d * d
            }
        } else {
            for x in a { sum += Double(x) * Double(x) }
        }
        return (sum / Double(a.count)).squareRoot()
    }

    /// Peak signal-to-noise ratio in dB with peak 1 on the 0–1 scale: 10·log10(1 / MSE).
    /// Identical images give `+infinity`.
    public static func psnr(_ a: PlanarImage, _ b: PlanarImage) throws -> Double {
        let error = try mse(a, b)
        return error == 0 ? .infinity : 10 * log10(1 / error)
    }

    /// Structural similarity (Wang et al. 2004) on the 0–1 scale: an 11×11 Gaussian window
    /// with σ = 1.5, K1 = 0.01, K2 = 0.03, L = 1, population (weighted) statistics, averaged
    /// over the positions where the window lies fully inside the image ("valid"), then over
    /// channels. Images smaller than 11 pixels use the largest odd window that fits.
    /// Identical images give exactly 1.
    public static func ssim(_ a: PlanarImage, _ b: PlanarImage) throws -> Double {
        try checkSameShape(a, b)
        if a.pixels == b.pixels { return 1 }
        var total = 0.0
        for c in 0..<a.channels {
            total += ssimPlane(Array(a.pixels[(c * a.planeSize)..<((c + 1) * a.planeSize)]),
                               Array(b.pixels[(c * b.planeSize)..<((c + 1) * b.planeSize)]),
                               width: a.width, height: a.height)
        }
        return total / Double(a.channels)
    }

    /// Mean CIE76 colour difference ΔE*ab (Euclidean distance in CIELAB, D65) per pixel.
    /// Grey images are compared as neutral colours. 0 for identical images; about 2.3 is a
    /// "just noticeable difference".
    public static func meanDeltaE76(_ a: PlanarImage, _ b: PlanarImage) throws -> Double {
        guard a.width == b.width, a.height == b.height else {
            throw ImagingError(.invalidArgument, path: nil,
                               "sizes differ: \(a.width)x\(a.height) vs \(b.width)x\(b.height)")
        }
        let la = LabImage(a), lb = LabImage(b)
        var sum = 0.0
        for i in 0..<la.l.count {
            let dl = Double(la.l[i] - lb.l[i]), da = Double(la.a[i] - lb.a[i]), db = Double(la.b[i] - lb.b[i])
            sum += (dl * dl + da * da + db * db).squareRoot()
        }
        return sum / Double(la.l.count)
    }

    static func checkSameShape(_ a: PlanarImage, _ b: PlanarImage) throws {
        guard a.width == b.width, a.height == b.height, a.channels == b.channels else {
            throw ImagingError(.invalidArgument, path: nil,
                               "shapes differ: \(a.channels)x\(a.height)x\(a.width) vs \(b.channels)x\(b.height)x\(b.width)")
        }
    }

    /// A normalised 1-D Gaussian of odd `size`.
    static func gaussian(size: Int, sigma: Double) -> [Double] {
        let r = size / 2
        let raw = (0..<size).map { i -> Double in
            let d = Double(i - r)
            return exp(-(d * d) / (2 * sigma * sigma))
        }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }

    /// Separable "valid" filtering of a plane.
    static func filterValid(_ plane: [Double], width: Int, height: Int, kernel k: [Double]) -> [Double] {
        let size = k.count, ow = width - size + 1, oh = height - size + 1
        var rows = [Double](repeating: 0, count: ow * height)
        for y in 0..<height {
            for x in 0..<ow {
                var s = 0.0
                for i in 0..<size { s += k[i] * plane[y * width + x + i] }
                rows[y * ow + x] = s
            }
        }
        var out = [Double](repeating: 0, count: ow * oh)
        for y in 0..<oh {
            for x in 0..<ow {
                var s = 0.0
                for i in 0..<size { s += k[i] * rows[(y + i) * ow + x] }
                out[y * ow + x] = s
            }
        }
        return out
    }

    static func ssimPlane(_ pa: [Float], _ pb: [Float], width: Int, height: Int) -> Double {
        var size = min(11, width, height)
        if size % 2 == 0 { size -= 1 }
        let kernel = gaussian(size: size, sigma: 1.5)
        let x = pa.map { (Double($0) + 1) / 2 }, y = pb.map { (Double($0) + 1) / 2 }
        let mx = filterValid(x, width: width, height: height, kernel: kernel)
        let my = filterValid(y, width: width, height: height, kernel: kernel)
        let xx = filterValid(zip(x, x).map { $0 * $1 }, width: width, height: height, kernel: kernel)
        let yy = filterValid(zip(y, y).map { $0 * $1 }, width: width, height: height, kernel: kernel)
        let xy = filterValid(zip(x, y).map { $0 * $1 }, width: width, height: height, kernel: kernel)
        let c1 = 0.01 * 0.01, c2 = 0.03 * 0.03
        var total = 0.0
        for i in 0..<mx.count {
            let vx = xx[i] - mx[i] * mx[i], vy = yy[i] - my[i] * my[i], cxy = xy[i] - mx[i] * my[i]
            total += ((2 * mx[i] * my[i] + c1) * (2 * cxy + c2))
                / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2))
        }
        return total / Double(mx.count)
    }
}

/// An image in CIELAB (D65 white, sRGB primaries): planar L* (0…100), a*, b*.
public struct LabImage: Equatable, Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Lightness L*, 0…100.
    public var l: [Float]
    /// Green–red axis a*.
    public var a: [Float]
    /// Blue–yellow axis b*.
    public var b: [Float]

    static let white: (x: Double, y: Double, z: Double) = (0.95047, 1.0, 1.08883)

    /// Converts an sRGB (or grey, taken as neutral) ``PlanarImage``.
    public init(_ image: PlanarImage) {
        width = image.width
        height = image.height
        let n = image.planeSize
        l = [Float](repeating: 0, count: n)
        a = l
        b = l
        let stride = image.channels == 3 ? n : 0
        for i in 0..<n {
            let r = Double(SRGB.toLinear((image.pixels[i] + 1) / 2))
            let g = Double(SRGB.toLinear((image.pixels[stride + i] + 1) / 2))
            let bl = Double(SRGB.toLinear((image.pixels[2 * stride + i] + 1) / 2))
            let x = 0.4124564 * r + 0.3575761 * g + 0.1804375 * bl
            let y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * bl
            let z = 0.0193339 * r + 0.1191920 * g + 0.9503041 * bl
            let fx = LabImage.f(x / LabImage.white.x), fy = LabImage.f(y / LabImage.white.y)
            let fz = LabImage.f(z / LabImage.white.z)
            l[i] = Float(116 * fy - 16)
            a[i] = Float(500 * (fx - fy))
            b[i] = Float(200 * (fy - fz))
        }
    }

    /// Back to a 3-channel sRGB image; out-of-gamut colours are clipped.
    public func toSRGB() -> PlanarImage {
        let n = width * height
        var out = [Float](repeating: 0, count: 3 * n)
        for i in 0..<n {
            let fy = (Double(l[i]) + 16) / 116
            let fx = fy + Double(a[i]) / 500, fz = fy - Double(b[i]) / 200
            let x = LabImage.white.x * LabImage.finv(fx), y = LabImage.white.y * LabImage.finv(fy)
            let z = LabImage.white.z * LabImage.finv(fz)
            let r = 3.2404542 * x - 1.5371385 * y - 0.4985314 * z
            let g = -0.9692660 * x + 1.8760108 * y + 0.0415560 * z
            let bl = 0.0556434 * x - 0.2040259 * y + 1.0572252 * z
            out[i] = SRGB.fromLinear(Float(r)) * 2 - 1
            out[n + i] = SRGB.fromLinear(Float(g)) * 2 - 1
            out[2 * n + i] = SRGB.fromLinear(Float(bl)) * 2 - 1
        }
        return PlanarImage(unchecked: width, height, 3, out)
    }

    static func f(_ t: Double) -> Double {
        let delta = 6.0 / 29.0
        return t > delta * delta * delta ? cbrt(t) : t / (3 * delta * delta) + 4.0 / 29.0
    }

    static func finv(_ t: Double) -> Double {
        let delta = 6.0 / 29.0
        return t > delta ? t * t * t : 3 * delta * delta * (t - 4.0 / 29.0)
    }
}

/// Helpers for colorisation.
public enum Colorization {
    /// An sRGB image with the CIELAB lightness L* of `lightness` and the chroma a*, b* of
    /// `chroma` (same size). Useful to keep a grey input's exact tones while taking colour
    /// from a network's output.
    public static func combine(lightnessOf lightness: PlanarImage, chromaOf chroma: PlanarImage) throws -> PlanarImage {
        guard lightness.width == chroma.width, lightness.height == chroma.height else {
            throw ImagingError(.invalidArgument, path: nil,
                               "sizes differ: \(lightness.width)x\(lightness.height) vs \(chroma.width)x\(chroma.height)")
        }
        var lab = LabImage(chroma)
        lab.l = LabImage(lightness).l
        return lab.toSRGB()
    }
}
