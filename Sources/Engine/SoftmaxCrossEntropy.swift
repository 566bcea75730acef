import Foundation

/// Softmax cross-entropy over class scores, as PyTorch's `F.cross_entropy` (mean over the batch).
public enum SoftmaxCrossEntropy {
    /// `mean_i −log softmax(logits_i)[labels_i]` for `n = labels.count` samples whose `classes`
    /// scores are channel-major, `logits[c * n + i]` (a network's `[C][N][1][1]` output). With
    /// `gradient`, writes `∂loss/∂logits = (softmax − onehot) / n` there, in the same layout.
    /// Sums run in double precision, with the largest score subtracted first.
    public static func loss(logits: UnsafePointer<Float>, labels: [Int], classes: Int,
                            gradient: UnsafeMutablePointer<Float>? = nil) -> Double {
        let n = labels.count
        precondition(n > 0 && classes > 0 && labels.allSatisfy { (0..<classes).contains($0) })
        var total = 0.0
        var exps = [Double](repeating: 0, count: classes)
        for i in 0..<n {
            var largest = -Double.infinity
            for c in 0..<classes { largest = max(largest, Double(logits[c * n + i])) }
            var sum = 0.0
            for c in 0..<classes {
                exps[c] = Foundation.exp(Double(logits[c * n + i]) - largest)
                sum += exps[c]
            }
            total += Foundation.log(sum) + largest - Double(logits[labels[i] * n + i])
            if let gradient {
                for c in 0..<classes {
                    gradient[c * n + i] = Float((exps[c] / sum - (c == labels[i] ? 1 : 0)) / Double(n))
                }
            }
        }
        return total / Double(n)
    }

    /// The highest-scoring class of each of `n` samples (scores channel-major, as in ``loss(logits:labels:classes:gradient:)``).
    public static func predictions(logits: UnsafePointer<Float>, count n: Int, classes: Int) -> [Int] {
        (0..<n).map { i in (0..<classes).max { logits[$0 * n + i] < logits[$1 * n + i] }! }
    }
}
