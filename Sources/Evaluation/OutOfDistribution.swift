import Engine
import Foundation
import IGN

/// Scores that tell how far an image is from a model's data: idempotence drift and its
/// relatives, and the distance of the image's latent code to the nearest code of a reference
/// set of in-distribution images (higher: more likely out of distribution).
public enum OutOfDistributionScore: String, CaseIterable, Codable, Sendable {
    /// RMS(f(f(x)) − f(x)).
    case drift
    /// drift / RMS(f(x)).
    case relativeDrift = "relative-drift"
    /// RMS(f(x) − x): an autoencoder's reconstruction error.
    case distance
    /// Drift after two and three applications: RMS(f³(x) − f²(x)), RMS(f⁴(x) − f³(x)).
    case drift2 = "drift-2", drift3 = "drift-3"
    /// RMS(E(f(x)) − E(x)) for f's encoder E: drift measured on the latent code.
    case latentDrift = "latent-drift"
    /// 1 − cos between E(x) and the most similar reference code (a reference image is not its own neighbour).
    case latentNeighbour = "latent-knn"
    /// Sum of latent-knn and drift, each as log-score standardised on the reference.
    case latentNeighbourPlusDrift = "latent-knn+drift"

    /// The score ign recommends: on fashion28 it separates the most of the sets tried (the model card).
    public static let recommended = OutOfDistributionScore.latentNeighbour

    /// Whether the score needs the reference's codes or statistics.
    public var needsReference: Bool { self == .latentNeighbour || self == .latentNeighbourPlusDrift }
}

/// One image's scores and its unit-length latent code.
public struct ScoredImage: Sendable {
    public var scores: [OutOfDistributionScore: Double]
    public var code: [Float]
}

/// Runs f four times on batches of samples and computes every score that needs no reference.
public final class OutOfDistributionScorer {
    public let projector: Projector

    public init(projector: Projector) { self.projector = projector }

    /// Scores `count` samples stored NCHW at the model's size.
    public func score(_ samples: [Float], count n: Int) -> [ScoredImage] {
        let d = projector.model.sampleShape.count
        precondition(samples.count == n * d, "samples do not hold \(n) images of \(projector.model.sampleShape)")
        let (f, codes) = samples.withUnsafeBufferPointer { projector.applyKeepingLatents($0.baseAddress!, count: n, steps: 4) }
        let c = codes[0].count / n
        return (0..<n).map { i in
            let image = { (k: Int) -> ArraySlice<Float> in (k == 0 ? samples : f[k - 1])[(i * d)..<((i + 1) * d)] }
            let code = { (k: Int) in codes[k][(i * c)..<((i + 1) * c)] }
            let drift = rms(image(2), image(1)), norm = rms(image(1))
            var code0 = Array(code(0))
            let length = code0.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if length > 0 { code0 = code0.map { $0 / length } }
            return ScoredImage(scores: [
                .drift: drift, .relativeDrift: norm > 0 ? drift / norm : 0, .distance: rms(image(1), image(0)),
                .drift2: rms(image(3), image(2)), .drift3: rms(image(4), image(3)), .latentDrift: rms(code(1), code(0)),
            ], code: code0)
        }
    }

    private func rms(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
        var sum = 0.0
        for (x, y) in zip(a, b) { let diff = Double(x) - Double(y); sum += diff * diff }
        return (sum / Double(a.count)).squareRoot()
    }

    private func rms(_ a: ArraySlice<Float>) -> Double {
        (a.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(a.count)).squareRoot()
    }
}

/// What the reference-based scores need: the reference's unit latent codes, and the mean and
/// standard deviation of log-drift and log-latent-knn over the reference.
public struct OutOfDistributionReference: Sendable {
    /// Sample-major unit codes, `count` × `codeLength`.
    public let codes: [Float]
    public let count: Int, codeLength: Int
    /// Mean and standard deviation of log score over the reference, per score the combination uses.
    public private(set) var logStatistics: [OutOfDistributionScore: (mean: Double, std: Double)] = [:]

    /// Builds the reference from its scored images and completes their reference-based scores
    /// (each image's nearest neighbour among the others).
    public init(_ images: inout [ScoredImage]) {
        precondition(images.count >= 2, "a reference needs at least two images")
        count = images.count
        codeLength = images[0].code.count
        codes = images.flatMap(\.code)
        let distances = OutOfDistributionReference.nearest(codes, count: count, to: codes, count: count,
                                                          length: codeLength, excludingSelf: true)
        for i in images.indices { images[i].scores[.latentNeighbour] = distances[i] }
        for score in [OutOfDistributionScore.drift, .latentNeighbour] {
            let logs = images.map { OutOfDistributionReference.log($0.scores[score]!) }
            let mean = logs.reduce(0, +) / Double(logs.count)
            let variance = logs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(1, logs.count - 1))
            logStatistics[score] = (mean, max(variance.squareRoot(), 1e-12))
        }
        for i in images.indices { complete(&images[i]) }
    }

    /// A reference read back from its codes and log statistics (a threshold file).
    public init(codes: [Float], count: Int, codeLength: Int, logStatistics: [OutOfDistributionScore: (mean: Double, std: Double)]) {
        self.codes = codes; self.count = count; self.codeLength = codeLength; self.logStatistics = logStatistics
    }

    /// Fills in the reference-based scores of images that are not part of the reference.
    public func score(_ images: inout [ScoredImage]) {
        precondition(images.allSatisfy { $0.code.count == codeLength }, "codes of another model")
        let distances = OutOfDistributionReference.nearest(images.flatMap(\.code), count: images.count, to: codes, count: count,
                                                          length: codeLength, excludingSelf: false)
        for i in images.indices {
            images[i].scores[.latentNeighbour] = distances[i]
            complete(&images[i])
        }
    }

    private func complete(_ image: inout ScoredImage) {
        var sum = 0.0
        for (score, stats) in logStatistics { sum += (OutOfDistributionReference.log(image.scores[score]!) - stats.mean) / stats.std }
        image.scores[.latentNeighbourPlusDrift] = sum
    }

    private static func log(_ value: Double) -> Double { Foundation.log(max(value, 1e-12)) }

    /// For each of the `n` unit codes in `queries`, 1 − the largest cosine with the `m` codes of
    /// `bank` (skipping the same index when `excludingSelf`), by GEMM in blocks of rows.
    static func nearest(_ queries: [Float], count n: Int, to bank: [Float], count m: Int, length: Int,
                        excludingSelf: Bool) -> [Double] {
        let block = 256
        var result = [Double](repeating: 0, count: n)
        var products = [Float](repeating: 0, count: block * m)
        queries.withUnsafeBufferPointer { q in
            bank.withUnsafeBufferPointer { b in
                for start in stride(from: 0, to: n, by: block) {
                    let rows = min(block, n - start)
                    products.withUnsafeMutableBufferPointer { p in
                        sgemm(transB: true, m: rows, n: m, k: length, q.baseAddress! + start * length, lda: length,
                              b.baseAddress!, ldb: length, p.baseAddress!, ldc: m)
                    }
                    for r in 0..<rows {
                        var best = -Float.infinity
                        for j in 0..<m where !(excludingSelf && j == start + r) { best = max(best, products[r * m + j]) }
                        result[start + r] = 1 - Double(best)
                    }
                }
            }
        }
        return result
    }
}
