import Basics
import Engine
import XCTest

/// Central finite differences against analytic gradients for a network with loss L = Σ out·r.
struct GradientCheck {
    let network: Network
    let batch: Int
    var input: [Float]
    let probe: [Float]
    let mode: ForwardMode

    init(_ network: Network, batch: Int, seed: UInt64, mode: ForwardMode = .train(updateRunningStats: false)) {
        self.network = network
        self.batch = batch
        self.mode = mode
        var rng = RandomSource(seed: seed)
        input = rng.normals(batch * network.inputShape.count)
        probe = rng.normals(batch * network.outputShape.count)
        let store = network.store
        rng.fillNormal(store.parameters, count: store.count, std: 0.5)
    }

    func loss(_ x: [Float]) -> Double {
        let trace = Trace(), scratch = Workspace(threads: 1)
        let out = x.withUnsafeBufferPointer { network.forward($0.baseAddress!, batch: batch, mode: mode, trace: trace, workspace: scratch) }
        return withExtendedLifetime(trace) {
            (0..<probe.count).reduce(0.0) { $0 + Double(out[$1]) * Double(probe[$1]) }
        }
    }

    /// Analytic gradients: (input gradient, parameter gradients).
    func analytic() -> ([Float], [Float]) {
        let trace = Trace(), scratch = Workspace(threads: 1)
        input.withUnsafeBufferPointer { _ = network.forward($0.baseAddress!, batch: batch, mode: mode, trace: trace, workspace: scratch) }
        network.store.zeroGradients()
        let dx = probe.withUnsafeBufferPointer {
            network.backward($0.baseAddress!, trace: trace, workspace: scratch, parameterGradients: true, inputGradient: true)!
        }
        return withExtendedLifetime((trace, scratch)) {
            (Array(UnsafeBufferPointer(start: dx, count: input.count)),
             Array(UnsafeBufferPointer(start: network.store.gradients, count: network.store.count)))
        }
    }

    /// Asserts every input and parameter derivative matches central differences within `tolerance`
    /// relative to the largest gradient magnitude.
    func run(eps: Float = 1e-2, tolerance: Double = 2e-3, file: StaticString = #filePath, line: UInt = #line) {
        let (dx, dp) = analytic()
        let scale = max(dx.map { abs(Double($0)) }.max() ?? 0, dp.map { abs(Double($0)) }.max() ?? 0, 1e-6)
        var worst = 0.0
        for i in 0..<input.count {
            var plus = input, minus = input
            plus[i] += eps; minus[i] -= eps
            let numeric = (loss(plus) - loss(minus)) / Double(2 * eps)
            worst = max(worst, abs(numeric - Double(dx[i])) / scale)
        }
        let p = network.store.parameters
        for i in 0..<network.store.count {
            let saved = p[i]
            p[i] = saved + eps; let up = loss(input)
            p[i] = saved - eps; let down = loss(input)
            p[i] = saved
            worst = max(worst, abs((up - down) / Double(2 * eps) - Double(dp[i])) / scale)
        }
        XCTAssertLessThan(worst, tolerance, "largest relative gradient error", file: file, line: line)
        XCTAssertGreaterThan(scale, 1e-3, "gradients are all ~0: the check would be vacuous", file: file, line: line)
    }
}
