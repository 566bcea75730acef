import Basics
import Engine
import Foundation

/// The distribution the noise z is drawn from.
public enum NoiseKind: String, Codable, CaseIterable, Sendable {
    /// z ~ N(0, 1) per element.
    case gaussian
    /// Per channel and frequency, the mean and std of the real and imaginary parts of the 2-D DFT of
    /// training images; z = Re(IDFT(μ + σ·ε)). Noise with the data's spectrum, as in the IGN paper.
    case fourier
}

/// Draws batches of noise (NCHW) for a sample shape.
public struct NoiseSource: Sendable {
    public let kind: NoiseKind
    public let shape: SampleShape
    /// For `.fourier`: mean of Re, mean of Im, std of Re, std of Im, each `shape.count` long (C×H×W).
    public let spectrum: [Float]

    public static func gaussian(_ shape: SampleShape) -> NoiseSource {
        NoiseSource(kind: .gaussian, shape: shape, spectrum: [])
    }

    /// Estimates the spectrum statistics from up to `limit` samples of `data`.
    public static func fourier(fittedTo data: Dataset, limit: Int = 5000) -> NoiseSource {
        let shape = data.shape, plane = shape.height * shape.width, n = min(limit, data.count)
        let dft = DFT2D(height: shape.height, width: shape.width)
        var sumRe = [Double](repeating: 0, count: shape.count), sumIm = sumRe, sqRe = sumRe, sqIm = sumRe
        var re = [Float](repeating: 0, count: plane), im = re
        data.values.withUnsafeBufferPointer { values in
            for i in 0..<n {
                for c in 0..<shape.channels {
                    dft.forward(values.baseAddress! + i * shape.count + c * plane, re: &re, im: &im)
                    for k in 0..<plane {
                        let j = c * plane + k
                        sumRe[j] += Double(re[k]); sqRe[j] += Double(re[k]) * Double(re[k])
                        sumIm[j] += Double(im[k]); sqIm[j] += Double(im[k]) * Double(im[k])
                    }
                }
            }
        }
        let count = Double(n)
        func std(_ sum: Double, _ sq: Double) -> Float { Float(max(0, sq / count - (sum / count) * (sum / count)).squareRoot()) }
        let spectrum = sumRe.map { Float($0 / count) } + sumIm.map { Float($0 / count) }
            + zip(sumRe, sqRe).map(std) + zip(sumIm, sqIm).map(std)
        return NoiseSource(kind: .fourier, shape: shape, spectrum: spectrum)
    }

    /// Writes `count` samples of noise, NCHW, into `out`.
    public func fill(_ out: UnsafeMutablePointer<Float>, count n: Int, rng: inout RandomSource) {
        switch kind {
        case .gaussian:
            rng.fillNormal(out, count: n * shape.count)
        case .fourier:
            let plane = shape.height * shape.width, total = shape.count
            let dft = DFT2D(height: shape.height, width: shape.width)
            var re = [Float](repeating: 0, count: plane), im = re
            var eps = [Float](repeating: 0, count: 2 * plane)
            for i in 0..<n {
                for c in 0..<shape.channels {
                    rng.fillNormal(&eps, count: 2 * plane)
                    for k in 0..<plane {
                        let j = c * plane + k
                        re[k] = spectrum[j] + spectrum[2 * total + j] * eps[k]
                        im[k] = spectrum[total + j] + spectrum[3 * total + j] * eps[plane + k]
                    }
                    dft.inverseReal(re: re, im: im, out + i * total + c * plane)
                }
            }
        }
    }

    // MARK: Stored in model files

    /// Metadata entries that let a model file carry its noise source.
    public var metadata: [String: String] {
        var m = ["noise": kind.rawValue]
        if kind == .fourier { m["noise_spectrum"] = spectrum.withUnsafeBytes { Data($0) }.base64EncodedString() }
        return m
    }

    /// The noise source recorded in a model's metadata (gaussian when none is recorded).
    public init(metadata: [String: String], shape: SampleShape) throws {
        let kind = NoiseKind(rawValue: metadata["noise"] ?? "gaussian")
        switch kind {
        case .gaussian?:
            self = .gaussian(shape)
        case .fourier?:
            guard let text = metadata["noise_spectrum"], let data = Data(base64Encoded: text), data.count == 16 * shape.count else {
                throw ModelError("the model's fourier noise spectrum is missing or does not fit \(shape)")
            }
            let spectrum = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            self.init(kind: .fourier, shape: shape, spectrum: spectrum)
        case nil:
            throw ModelError("unknown noise kind '\(metadata["noise"] ?? "")'")
        }
    }

    init(kind: NoiseKind, shape: SampleShape, spectrum: [Float]) {
        self.kind = kind; self.shape = shape; self.spectrum = spectrum
    }
}

extension IGNModel {
    /// `count` samples (NCHW) of the noise the model was trained with (the source its metadata
    /// records), drawn from `RandomSource(seed: seed)`.
    public func drawNoise(count: Int, seed: UInt64) throws -> [Float] {
        let noise = try NoiseSource(metadata: metadata, shape: sampleShape)
        var rng = RandomSource(seed: seed)
        var z = [Float](repeating: 0, count: count * sampleShape.count)
        z.withUnsafeMutableBufferPointer { noise.fill($0.baseAddress!, count: count, rng: &rng) }
        return z
    }
}

/// A 2-D discrete Fourier transform of one H×W plane by separable cosine/sine products.
struct DFT2D {
    let height: Int, width: Int
    private let cosH: [Float], sinH: [Float], cosW: [Float], sinW: [Float]

    init(height: Int, width: Int) {
        self.height = height; self.width = width
        func table(_ n: Int, _ f: (Double) -> Double) -> [Float] {
            (0..<(n * n)).map { Float(f(2 * Double.pi * Double(($0 / n) * ($0 % n) % n) / Double(n))) }
        }
        cosH = table(height, cos); sinH = table(height, sin); cosW = table(width, cos); sinW = table(width, sin)
    }

    /// X = Σ x[h,w]·e^{−2πi(uh/H + vw/W)}: Re X = C x C − S x S, Im X = −(S x C + C x S).
    func forward(_ x: UnsafePointer<Float>, re: inout [Float], im: inout [Float]) {
        let xc = multiply(x, rows: height, by: cosW, width), xs = multiply(x, rows: height, by: sinW, width)
        let cxc = leftMultiply(cosH, xc), sxs = leftMultiply(sinH, xs)
        let sxc = leftMultiply(sinH, xc), cxs = leftMultiply(cosH, xs)
        for k in 0..<(height * width) {
            re[k] = cxc[k] - sxs[k]
            im[k] = -(sxc[k] + cxs[k])
        }
    }

    /// Re(IDFT(A + iB)) = (1/HW)·[C (A C − B S) − S (A S + B C)].
    func inverseReal(re a: [Float], im b: [Float], _ out: UnsafeMutablePointer<Float>) {
        let ac = a.withUnsafeBufferPointer { multiply($0.baseAddress!, rows: height, by: cosW, width) }
        let asn = a.withUnsafeBufferPointer { multiply($0.baseAddress!, rows: height, by: sinW, width) }
        let bc = b.withUnsafeBufferPointer { multiply($0.baseAddress!, rows: height, by: cosW, width) }
        let bs = b.withUnsafeBufferPointer { multiply($0.baseAddress!, rows: height, by: sinW, width) }
        let left = leftMultiply(cosH, zip(ac, bs).map { $0 - $1 })
        let right = leftMultiply(sinH, zip(asn, bc).map { $0 + $1 })
        let scale = 1 / Float(height * width)
        for k in 0..<(height * width) { out[k] = (left[k] - right[k]) * scale }
    }

    /// (rows × n) · (n × n).
    private func multiply(_ x: UnsafePointer<Float>, rows: Int, by m: [Float], _ n: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * n)
        for r in 0..<rows { for k in 0..<n { let v = x[r * n + k]; for j in 0..<n { out[r * n + j] += v * m[k * n + j] } } }
        return out
    }

    /// (H × H) · (H × W).
    private func leftMultiply(_ m: [Float], _ x: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: height * width)
        for r in 0..<height { for k in 0..<height { let v = m[r * height + k]; for j in 0..<width { out[r * width + j] += v * x[k * width + j] } } }
        return out
    }
}
