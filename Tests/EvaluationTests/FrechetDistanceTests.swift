import Basics
@testable import Evaluation
import XCTest

final class FrechetDistanceTests: XCTestCase {
    /// A random rotation of R^d (Gram–Schmidt of normal vectors), row-major.
    func rotation(_ d: Int, seed: UInt64) -> [Double] {
        var rng = RandomSource(seed: seed)
        var q = rng.normals(d * d).map(Double.init)
        for i in 0..<d {
            for j in 0..<i {
                let dot = (0..<d).reduce(0.0) { $0 + q[i * d + $1] * q[j * d + $1] }
                for k in 0..<d { q[i * d + k] -= dot * q[j * d + k] }
            }
            let norm = (0..<d).reduce(0.0) { $0 + q[i * d + $1] * q[i * d + $1] }.squareRoot()
            for k in 0..<d { q[i * d + k] /= norm }
        }
        return q
    }

    /// R diag(values) Rᵀ.
    func rotated(_ values: [Double], by r: [Double]) -> [Double] {
        let d = values.count
        var out = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { for k in 0..<d { out[i * d + j] += r[i * d + k] * values[k] * r[j * d + k] } } }
        return out
    }

    /// Diagonal covariances have a closed form, Σ(√a − √b)² + ‖Δμ‖², and a common rotation of
    /// both Gaussians (which makes the matrices dense) leaves it unchanged.
    func testClosedFormAndRotationInvariance() {
        let d = 12
        var rng = RandomSource(seed: 3)
        let a = (0..<d).map { _ in Double(0.1 + 4 * rng.nextUniform()) }, b = (0..<d).map { _ in Double(0.1 + 4 * rng.nextUniform()) }
        let ma = rng.normals(d).map(Double.init), mb = rng.normals(d).map(Double.init)
        let expected = (0..<d).reduce(0.0) { $0 + pow(a[$1].squareRoot() - b[$1].squareRoot(), 2) + pow(ma[$1] - mb[$1], 2) }
        func diagonal(_ v: [Double]) -> [Double] { (0..<(d * d)).map { $0 / d == $0 % d ? v[$0 / d] : 0 } }
        let plain = FeatureGaussian(mean: ma, covariance: diagonal(a)).frechetDistance(to: FeatureGaussian(mean: mb, covariance: diagonal(b)))
        XCTAssertEqual(plain, expected, accuracy: 1e-9 * expected)
        let r = rotation(d, seed: 4)
        let rotate = { (m: [Double]) in (0..<d).map { i in (0..<d).reduce(0.0) { $0 + r[i * d + $1] * m[$1] } } }
        let dense = FeatureGaussian(mean: rotate(ma), covariance: rotated(a, by: r))
            .frechetDistance(to: FeatureGaussian(mean: rotate(mb), covariance: rotated(b, by: r)))
        XCTAssertEqual(dense, expected, accuracy: 1e-8 * expected)
        let same = FeatureGaussian(mean: ma, covariance: rotated(a, by: r))
        XCTAssertEqual(same.frechetDistance(to: same), 0, accuracy: 1e-9)
    }

    /// The Jacobi decomposition rebuilds the matrix, with orthonormal eigenvectors.
    func testEigenDecompositionRebuildsTheMatrix() {
        let d = 20
        var rng = RandomSource(seed: 8)
        let x = rng.normals(d * d).map(Double.init)
        var m = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { m[i * d + j] = x[i * d + j] + x[j * d + i] } }
        let (values, vectors) = SymmetricEigen.decompose(m, dimension: d)
        for i in 0..<d { for j in 0..<d {
            let rebuilt = (0..<d).reduce(0.0) { $0 + vectors[i * d + $1] * values[$1] * vectors[j * d + $1] }
            XCTAssertEqual(rebuilt, m[i * d + j], accuracy: 1e-9)
            let dot = (0..<d).reduce(0.0) { $0 + vectors[$1 * d + i] * vectors[$1 * d + j] }
            XCTAssertEqual(dot, i == j ? 1 : 0, accuracy: 1e-9)
        } }
    }

    /// Sample estimates: unbiased covariance of known vectors.
    func testGaussianOfFeatures() {
        let g = FeatureGaussian(features: [1, 2, 3, 6, 5, 10], dimension: 2)
        XCTAssertEqual(g.mean, [3, 6])
        XCTAssertEqual(g.covariance, [4, 8, 8, 16])
    }
}
