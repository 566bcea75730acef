import Engine
import Foundation

/// Weights and distance of the IGN objective (Shocher et al., ICLR 2024).
public struct ObjectiveConfig: Codable, Equatable, Sendable {
    public var lambdaRec: Float = 20
    public var lambdaIdem: Float = 20
    public var lambdaTight: Float = 2.5
    /// The tightness clamp's `a`: L_tight = tanh(T / (a·R))·a·R.
    public var tightA: Float = 1.5
    public var distance: Distance = .l1

    public init(distance: Distance = .l1, lambdaRec: Float = 20, lambdaIdem: Float = 20, lambdaTight: Float = 2.5, tightA: Float = 1.5) {
        self.distance = distance
        self.lambdaRec = lambdaRec; self.lambdaIdem = lambdaIdem; self.lambdaTight = lambdaTight; self.tightA = tightA
    }
}

extension Distance: Codable {}

/// The batch means of the three losses and their weighted sum.
public struct Losses: Equatable, Sendable {
    public var rec: Float, idem: Float, tight: Float, total: Float
}

/// One evaluation of the IGN objective and its gradient with respect to θ.
///
/// With f in train mode: fx = f(x), fz = f(z), fz' = detach(fz), ffz = f(fz'), f'fz = f'(fz) where f' is
/// f frozen at the start of the step. Per sample: rec = D(fx, x), idem = D(f'fz, fz),
/// T = −D(ffz, fz'), R = detach(rec), tight = tanh(T/(a·R))·a·R.
///
/// f' has f's weights and, in train mode, the batch statistics of its own input, so f'fz and ffz
/// are the same numbers: one forward pass serves both, and only the gradients are routed apart —
/// the tightness gradient reaches θ through that outer pass, the idempotence gradient only
/// through its input fz and on into the inner pass f(z).
public final class Objective {
    public let model: IGNModel
    public var config: ObjectiveConfig
    private let traceX = Trace(), traceZ = Trace(), traceFZ = Trace()
    private let workspace: Workspace
    private let gradFX = FloatBuffer(count: 0), gradFFZ = FloatBuffer(count: 0)
    private let gradThroughFrozen = FloatBuffer(count: 0), gradFZ = FloatBuffer(count: 0)

    /// An objective whose passes run on `threads` threads.
    public init(model: IGNModel, config: ObjectiveConfig = ObjectiveConfig(), threads: Int) {
        self.model = model
        self.config = config
        workspace = Workspace(threads: threads)
    }

    /// Computes the losses for channel-major batches `x` and `z` of `n` samples and writes
    /// their gradient into the model's gradient array (overwriting it). Updates BatchNorm running
    /// statistics three times, by f(x), f(z) and f(fz'), in that order.
    public func lossAndGradient(x: UnsafePointer<Float>, z: UnsafePointer<Float>, batch n: Int) -> Losses {
        let network = model.network, shape = model.sampleShape, count = n * shape.count
        let c = config, d = c.distance
        network.store.zeroGradients()
        let mode = ForwardMode.train(updateRunningStats: true)
        let fx = UnsafePointer(network.forward(x, batch: n, mode: mode, trace: traceX, workspace: workspace))
        let fz = UnsafePointer(network.forward(z, batch: n, mode: mode, trace: traceZ, workspace: workspace))
        let ffz = UnsafePointer(network.forward(fz, batch: n, mode: mode, trace: traceFZ, workspace: workspace))

        let rec = d.perSample(fx, x, batch: n, shape: shape)
        let idem = d.perSample(ffz, fz, batch: n, shape: shape)  // also −T: f'fz and ffz coincide
        let a = Double(c.tightA)
        var tight = [Double](repeating: 0, count: n), dTight = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let scale = a * rec[i], t = Foundation.tanh(-idem[i] / scale)
            tight[i] = t * scale
            dTight[i] = Float(1 - t * t)  // d tight_i / d T_i
        }
        let mean = { (v: [Double]) in Float(v.reduce(0, +) / Double(n)) }
        let losses = Losses(rec: mean(rec), idem: mean(idem), tight: mean(tight),
                            total: c.lambdaRec * mean(rec) + c.lambdaIdem * mean(idem) + c.lambdaTight * mean(tight))

        for buffer in [gradFX, gradFFZ, gradThroughFrozen, gradFZ] {
            buffer.reserve(count)
            buffer.zero(count)
        }
        let batchMean = 1 / Float(n)
        // Reconstruction: through f(x).
        d.accumulateGradient(fx, x, weights: Array(repeating: c.lambdaRec * batchMean, count: n),
                             gradA: gradFX.pointer, gradB: nil, batch: n, shape: shape)
        network.backward(gradFX.pointer, trace: traceX, workspace: workspace, parameterGradients: true, inputGradient: false)

        // Tightness: through the outer pass f(fz') only; T = −D(ffz, fz').
        d.accumulateGradient(ffz, fz, weights: dTight.map { -c.lambdaTight * batchMean * $0 },
                             gradA: gradFFZ.pointer, gradB: nil, batch: n, shape: shape)
        network.backward(gradFFZ.pointer, trace: traceFZ, workspace: workspace, parameterGradients: true, inputGradient: false)

        // Idempotence: both arguments of D(f'(fz), fz) depend on fz; f' passes gradient to its input only.
        d.accumulateGradient(ffz, fz, weights: Array(repeating: c.lambdaIdem * batchMean, count: n),
                             gradA: gradThroughFrozen.pointer, gradB: gradFZ.pointer, batch: n, shape: shape)
        let viaFrozen = network.backward(gradThroughFrozen.pointer, trace: traceFZ, workspace: workspace,
                                         parameterGradients: false, inputGradient: true)!
        let g = gradFZ.pointer
        for i in 0..<count { g[i] += viaFrozen[i] }
        network.backward(g, trace: traceZ, workspace: workspace, parameterGradients: true, inputGradient: false)
        return losses
    }
}
