import Foundation

/// Adam exactly as PyTorch's `torch.optim.Adam` (no weight decay, no amsgrad):
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)`.
public struct Adam: Sendable, Equatable {
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var eps: Float
    /// Number of steps taken so far (PyTorch's `state['step']`).
    public var step: Int = 0

    public init(learningRate: Double = 1e-4, beta1: Double = 0.5, beta2: Double = 0.999, eps: Float = 1e-8) {
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
    }

    /// One update of every parameter in `store` from its gradients.
    public mutating func update(_ store: ParameterStore) {
        step += 1
        let bias1 = 1 - pow(beta1, Double(step))
        let bias2 = 1 - pow(beta2, Double(step))
        let stepSize = Float(learningRate / bias1)
        let bias2Sqrt = Float(bias2.squareRoot())
        // Coefficients computed in double and rounded once, as PyTorch does with Python floats.
        let b2 = Float(beta2), oneMinusB1 = Float(1 - beta1), oneMinusB2 = Float(1 - beta2)
        let eps = eps
        let p = store.parameters, g = store.gradients, m = store.adamM, v = store.adamV
        for i in 0..<store.count {
            m[i] += (g[i] - m[i]) * oneMinusB1
            v[i] = v[i] * b2 + oneMinusB2 * g[i] * g[i]
            p[i] -= stepSize * (m[i] / (v[i].squareRoot() / bias2Sqrt + eps))
        }
    }
}
