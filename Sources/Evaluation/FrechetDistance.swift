import Foundation

/// The mean and covariance of a set of feature vectors, in double precision.
public struct FeatureGaussian: Sendable {
    public let dimension: Int
    public let mean: [Double]
    /// Row-major `dimension × dimension`, unbiased (divides by n − 1, as `numpy.cov`).
    public let covariance: [Double]

    /// The Gaussian fitted to `n` vectors of `dimension` stored row after row in `features`.
    public init(features: [Float], dimension d: Int) {
        let n = features.count / d
        precondition(n >= 2 && features.count == n * d, "needs at least 2 vectors of \(d)")
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for k in 0..<d { mean[k] += Double(features[i * d + k]) } }
        for k in 0..<d { mean[k] /= Double(n) }
        var covariance = [Double](repeating: 0, count: d * d), centred = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for k in 0..<d { centred[k] = Double(features[i * d + k]) - mean[k] }
            for a in 0..<d {
                let ca = centred[a]
                for b in a..<d { covariance[a * d + b] += ca * centred[b] }
            }
        }
        for a in 0..<d {
            for b in a..<d {
                covariance[a * d + b] /= Double(n - 1)
                covariance[b * d + a] = covariance[a * d + b]
            }
        }
        self.init(mean: mean, covariance: covariance)
    }

    public init(mean: [Double], covariance: [Double]) {
        precondition(covariance.count == mean.count * mean.count)
        dimension = mean.count; self.mean = mean; self.covariance = covariance
    }

    /// The Fréchet (2-Wasserstein) distance between the two Gaussians, as FID computes it:
    /// ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), with Tr (Σ₁Σ₂)^½ = Σ √λ(Σ₁^½ Σ₂ Σ₁^½).
    public func frechetDistance(to other: FeatureGaussian) -> Double {
        precondition(dimension == other.dimension)
        let d = dimension
        var distance = 0.0
        for k in 0..<d { distance += (mean[k] - other.mean[k]) * (mean[k] - other.mean[k]) + covariance[k * d + k] + other.covariance[k * d + k] }
        let root = SymmetricEigen.squareRoot(covariance, dimension: d)
        let product = multiply(multiply(root, other.covariance, d), root, d)
        let crossTrace = SymmetricEigen.eigenvalues(product, dimension: d).reduce(0) { $0 + max($1, 0).squareRoot() }
        return distance - 2 * crossTrace
    }

    private func multiply(_ a: [Double], _ b: [Double], _ d: Int) -> [Double] {
        var c = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for k in 0..<d {
            let aik = a[i * d + k]
            if aik == 0 { continue }
            for j in 0..<d { c[i * d + j] += aik * b[k * d + j] }
        } }
        return c
    }
}

/// Eigen-decomposition of small symmetric matrices by cyclic Jacobi rotations (double precision).
enum SymmetricEigen {
    /// Eigenvalues and eigenvectors (column `j` of the row-major `vectors` belongs to `values[j]`).
    static func decompose(_ matrix: [Double], dimension d: Int) -> (values: [Double], vectors: [Double]) {
        var a = matrix, v = [Double](repeating: 0, count: d * d)
        for i in 0..<d { v[i * d + i] = 1 }
        let scale = max(matrix.reduce(0) { max($0, abs($1)) }, .leastNormalMagnitude)
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<d { for q in (p + 1)..<d { off += a[p * d + q] * a[p * d + q] } }
            if off.squareRoot() <= 1e-15 * scale * Double(d) { break }
            for p in 0..<d {
                for q in (p + 1)..<d {
                    let apq = a[p * d + q]
                    if abs(apq) <= 1e-300 { continue }
                    let theta = (a[q * d + q] - a[p * d + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<d {
                        let akp = a[k * d + p], akq = a[k * d + q]
                        a[k * d + p] = c * akp - s * akq
                        a[k * d + q] = s * akp + c * akq
                    }
                    for k in 0..<d {
                        let apk = a[p * d + k], aqk = a[q * d + k]
                        a[p * d + k] = c * apk - s * aqk
                        a[q * d + k] = s * apk + c * aqk
                    }
                    for k in 0..<d {
                        let vkp = v[k * d + p], vkq = v[k * d + q]
                        v[k * d + p] = c * vkp - s * vkq
                        v[k * d + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<d).map { a[$0 * d + $0] }, v)
    }

    static func eigenvalues(_ matrix: [Double], dimension d: Int) -> [Double] { decompose(matrix, dimension: d).values }

    /// The positive semi-definite square root V √max(Λ, 0) Vᵀ.
    static func squareRoot(_ matrix: [Double], dimension d: Int) -> [Double] {
        let (values, vectors) = decompose(matrix, dimension: d)
        let roots = values.map { max($0, 0).squareRoot() }
        var out = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d {
            var s = 0.0
            for k in 0..<d { s += vectors[i * d + k] * roots[k] * vectors[j * d + k] }
            out[i * d + j] = s
        } }
        return out
    }
}
