import Engine
import IGN

/// A feature space in which ``SampleQuality`` compares samples with test images by Fréchet
/// distance: a ``Classifier`` (its penultimate activations, and the class of each image) or
/// ``ImageStatistics`` (hand-made statistics, for images no bundled classifier knows).
public protocol SampleFeatures {
    /// What reports call it.
    var name: String { get }
    /// Length of a feature vector.
    var dimension: Int { get }
    /// The images it takes.
    var sampleShape: SampleShape { get }
    /// Number of classes ``features(_:count:threads:)`` predicts; 0 when it does not classify.
    var classCount: Int { get }
    /// Feature vectors (sample-major, `[n][dimension]`) of `n` NCHW images, and the predicted
    /// class of each (empty when `classCount` is 0).
    func features(_ images: [Float], count n: Int, threads: Int) -> (features: [Float], classes: [Int])
}

extension Classifier: SampleFeatures {
    public var dimension: Int { Classifier.featureCount }
    public var classCount: Int { classes }
    public func features(_ images: [Float], count n: Int, threads: Int) -> (features: [Float], classes: [Int]) {
        run(images, count: n, threads: threads)
    }
}

/// A feature space for colour images that needs no trained network: per image, its colour
/// layout (the image average-pooled to 4×4 in each channel), each channel's contrast (standard
/// deviation over the image), its detail (mean absolute difference of horizontal and of
/// vertical neighbours per channel, at full and at half resolution) and, for RGB, its
/// colourfulness (mean and standard deviation of the opponent channels R − G and (R + G)/2 − B).
/// Each feature is standardised by its mean and standard deviation over a reference set (the
/// test split), so that every feature weighs alike in the distance.
///
/// It tells whether samples have the data's colours, colourfulness, coarse layout, contrast
/// and sharpness (gray, washed-out or blurred samples score far off); it cannot tell whether
/// they show anything recognisable, nor mode coverage beyond these statistics.
public struct ImageStatistics: SampleFeatures {
    public let sampleShape: SampleShape
    public var name: String { "image statistics (layout 4×4, contrast, detail, colourfulness)" }
    public var classCount: Int { 0 }
    public var dimension: Int { Self.dimension(channels: sampleShape.channels) }
    /// Per-feature mean and standard deviation of the reference set.
    private let mean: [Float], scale: [Float]

    /// Side of the pooled colour-layout grid.
    static let grid = 4

    static func dimension(channels c: Int) -> Int { grid * grid * c + c + 4 * c + (c == 3 ? 4 : 0) }

    /// The space standardised on `count` reference images of `shape` (at least 2, each side ≥ 8).
    public init(reference images: [Float], count n: Int, shape: SampleShape) {
        precondition(n >= 2 && shape.height >= 2 * Self.grid && shape.width >= 2 * Self.grid)
        sampleShape = shape
        let raw = Self.raw(images, count: n, shape: shape), d = Self.dimension(channels: shape.channels)
        var mean = [Float](repeating: 0, count: d), variance = [Float](repeating: 0, count: d)
        for i in 0..<n { for k in 0..<d { mean[k] += raw[i * d + k] / Float(n) } }
        for i in 0..<n { for k in 0..<d { let c = raw[i * d + k] - mean[k]; variance[k] += c * c / Float(n - 1) } }
        self.mean = mean
        scale = variance.map { 1 / max($0.squareRoot(), 1e-6) }
    }

    public func features(_ images: [Float], count n: Int, threads: Int) -> (features: [Float], classes: [Int]) {
        var out = Self.raw(images, count: n, shape: sampleShape)
        let d = dimension
        for i in 0..<n { for k in 0..<d { out[i * d + k] = (out[i * d + k] - mean[k]) * scale[k] } }
        return (out, [])
    }

    /// The unstandardised features of `n` NCHW images.
    static func raw(_ images: [Float], count n: Int, shape: SampleShape) -> [Float] {
        let c = shape.channels, h = shape.height, w = shape.width, plane = h * w, d = dimension(channels: c)
        precondition(images.count == n * c * plane, "images do not hold \(n) samples of \(shape)")
        var out = [Float](repeating: 0, count: n * d)
        images.withUnsafeBufferPointer { all in
            var half = [Float](repeating: 0, count: (h / 2) * (w / 2))
            for i in 0..<n {
                var k = i * d
                func put(_ x: Float) { out[k] = x; k += 1 }
                for ch in 0..<c {
                    let p = all.baseAddress! + (i * c + ch) * plane
                    for gy in 0..<grid {
                        for gx in 0..<grid {
                            let y0 = gy * h / grid, y1 = (gy + 1) * h / grid, x0 = gx * w / grid, x1 = (gx + 1) * w / grid
                            var s: Float = 0
                            for y in y0..<y1 { for x in x0..<x1 { s += p[y * w + x] } }
                            put(s / Float((y1 - y0) * (x1 - x0)))
                        }
                    }
                    put(standardDeviation(p, count: plane))
                    let (dx, dy) = meanAbsoluteDifferences(p, width: w, height: h)
                    put(dx); put(dy)
                    let hw = w / 2, hh = h / 2
                    for y in 0..<hh {
                        for x in 0..<hw {
                            half[y * hw + x] = (p[2 * y * w + 2 * x] + p[2 * y * w + 2 * x + 1] + p[(2 * y + 1) * w + 2 * x] + p[(2 * y + 1) * w + 2 * x + 1]) / 4
                        }
                    }
                    let (hx, hy) = half.withUnsafeBufferPointer { meanAbsoluteDifferences($0.baseAddress!, width: hw, height: hh) }
                    put(hx); put(hy)
                }
                if c == 3 {
                    let r = all.baseAddress! + i * 3 * plane, g = r + plane, b = g + plane
                    var rg: Float = 0, rg2: Float = 0, yb: Float = 0, yb2: Float = 0
                    for j in 0..<plane {
                        let u = r[j] - g[j], v = (r[j] + g[j]) / 2 - b[j]
                        rg += u; rg2 += u * u; yb += v; yb2 += v * v
                    }
                    for (sum, squares) in [(rg, rg2), (yb, yb2)] {
                        let mean = sum / Float(plane)
                        put(mean); put(max(squares / Float(plane) - mean * mean, 0).squareRoot())
                    }
                }
            }
        }
        return out
    }

    private static func standardDeviation(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var s: Float = 0, s2: Float = 0
        for j in 0..<count { s += p[j]; s2 += p[j] * p[j] }
        let m = s / Float(count)
        return max(s2 / Float(count) - m * m, 0).squareRoot()
    }

    private static func meanAbsoluteDifferences(_ p: UnsafePointer<Float>, width w: Int, height h: Int) -> (Float, Float) {
        var dx: Float = 0, dy: Float = 0
        for y in 0..<h { for x in 1..<w { dx += abs(p[y * w + x] - p[y * w + x - 1]) } }
        for y in 1..<h { for x in 0..<w { dy += abs(p[y * w + x] - p[(y - 1) * w + x]) } }
        return (dx / Float(h * (w - 1)), dy / Float((h - 1) * w))
    }
}
