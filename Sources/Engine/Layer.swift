/// Shape of one sample's activation: channels × height × width.
public struct SampleShape: Equatable, Sendable, CustomStringConvertible {
    public var channels: Int, height: Int, width: Int
    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels; self.height = height; self.width = width
    }
    public var count: Int { channels * height * width }
    public var plane: Int { height * width }
    public var description: String { "\(channels)×\(height)×\(width)" }
}

/// An error in a network's layers: a channel mismatch, a kernel larger than its input, an
/// unknown skip source, a shape a layer cannot take.
public struct ShapeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// How a forward pass treats normalisation layers.
public enum ForwardMode: Equatable, Sendable {
    /// Batch statistics; running statistics updated when `updateRunningStats`.
    case train(updateRunningStats: Bool)
    /// Running statistics.
    case eval

    var isTraining: Bool { self != .eval }
}

/// A parameter's initial distribution: N(mean, std²), or the constant `mean` when `std` is 0.
/// A convolution's weights also give their fan-in, for initialisations scaled by it.
public struct ParameterInit: Sendable {
    public let view: ParameterStore.View
    public let mean: Float, std: Float
    public var fanIn: Int?
}

/// One layer of a network: its hyper-parameters, its tensors in the store, and an explicit
/// forward and backward over channel-major batches (`[C][N][H][W]`).
///
/// A layer knows nothing of the spatial size it will see until a pass: the same layer runs on
/// any H×W its arithmetic allows, so one fully-convolutional network serves every image size.
/// Each call works on the samples one worker owns (``LayerCall/samples``); layers that need the
/// whole batch (BatchNorm's statistics, weight gradients) synchronise through the call.
public protocol Layer: AnyObject {
    /// Registers the layer's tensors under `name` (PyTorch's state_dict names).
    func register(_ name: String, in layout: inout ParameterStore.Layout)
    /// The output shape for these input shapes, or why they do not fit.
    func outputShape(_ inputs: [SampleShape]) throws -> SampleShape
    /// How the layer's parameters start (DCGAN style).
    var initialization: [ParameterInit] { get }
    /// Multiply-adds of one sample's forward pass.
    func multiplyAdds(_ inputs: [SampleShape], _ output: SampleShape) -> Int
    /// Floats of per-worker scratch a call on `samples` samples needs (forward only, or also backward).
    func workerScratch(_ inputs: [SampleShape], _ output: SampleShape, samples: Int, backward: Bool) -> Int
    /// Floats of scratch shared by the `workers` workers of a backward on `batch` samples.
    func sharedScratch(_ inputs: [SampleShape], _ output: SampleShape, batch: Int, workers: Int) -> Int
    /// Doubles one cross-worker sum of this layer adds up.
    func reductionSize(_ inputs: [SampleShape]) -> Int
    /// What a forward on `batch` samples keeps for the backward: `existing` (this layer's state
    /// in the trace from an earlier pass) made ready, or a new one; nil when nothing is kept.
    func prepareSaved(_ existing: SavedState?, _ inputs: [SampleShape], batch: Int) -> SavedState?
    func forward(_ call: LayerCall)
    /// Fills `gradient.inputs[k]` (when non-nil) with ∂loss/∂input k for the call's samples,
    /// and, with `gradient.parameters`, adds into the store's gradients.
    func backward(_ call: LayerCall, _ gradient: LayerGradient)
}

public extension Layer {
    var initialization: [ParameterInit] { [] }
    func register(_ name: String, in layout: inout ParameterStore.Layout) {}
    func multiplyAdds(_ inputs: [SampleShape], _ output: SampleShape) -> Int { 0 }
    func workerScratch(_ inputs: [SampleShape], _ output: SampleShape, samples: Int, backward: Bool) -> Int { 0 }
    func sharedScratch(_ inputs: [SampleShape], _ output: SampleShape, batch: Int, workers: Int) -> Int { 0 }
    func reductionSize(_ inputs: [SampleShape]) -> Int { 0 }
    func prepareSaved(_ existing: SavedState?, _ inputs: [SampleShape], batch: Int) -> SavedState? { nil }
}

/// What a layer keeps from a training forward for its backward (one per layer and trace).
public class SavedState {}

/// Per-channel or per-(sample, group) statistics a normalisation layer normalised with.
public final class NormStatistics: SavedState {
    public let mean = FloatBuffer(count: 0)
    public let invStd = FloatBuffer(count: 0)

    /// `existing` when it is one, else a new one; with room for `count` values each.
    static func prepared(_ existing: SavedState?, count: Int) -> NormStatistics {
        let stats = existing as? NormStatistics ?? NormStatistics()
        stats.mean.reserve(count); stats.invStd.reserve(count)
        return stats
    }
}

/// One layer's call inside a pass: its inputs and output (whole channel-major batches), the
/// samples this worker owns, and the worker's scratch and synchronisation.
public struct LayerCall {
    public let inputs: [UnsafeMutablePointer<Float>]
    public let inputShapes: [SampleShape]
    public let output: UnsafeMutablePointer<Float>
    public let outputShape: SampleShape
    public let samples: SampleRange
    public let mode: ForwardMode
    public let saved: SavedState?
    public let store: ParameterStore
    let workspace: Workspace
    public let worker: Int, workers: Int

    public var batch: Int { samples.batch }
    public var input: UnsafeMutablePointer<Float> { inputs[0] }
    public var inputShape: SampleShape { inputShapes[0] }
    /// This worker's scratch (``Layer/workerScratch(_:_:samples:backward:)`` floats).
    public var scratch: UnsafeMutablePointer<Float> { workspace.columns[worker].pointer }
    /// Scratch shared by all workers (``Layer/sharedScratch(_:_:batch:workers:)`` floats).
    public var shared: UnsafeMutablePointer<Float> { workspace.shared.pointer }

    @inline(__always) public func parameter(_ view: ParameterStore.View) -> UnsafeMutablePointer<Float> {
        store.parameters + view.offset
    }
    @inline(__always) public func gradient(_ view: ParameterStore.View) -> UnsafeMutablePointer<Float> {
        store.gradients + view.offset
    }
    @inline(__always) public func buffer(_ view: ParameterStore.View) -> UnsafeMutablePointer<Float> {
        store.buffers + view.offset
    }

    /// Waits for every worker of the pass.
    public func barrier() { workspace.pool.barrier() }

    /// The sums over all workers of each worker's `partial` (every worker gets the same totals,
    /// added in worker order, so they do not depend on timing).
    public func sumOverWorkers(_ partial: [Double]) -> [Double] {
        guard workers > 1 else { return partial }
        return workspace.sumOverWorkers(partial, worker: worker, workers: workers)
    }

    /// Shares a forward's output channels among the pool's threads when this worker is the
    /// pass's only one (a batch of one sample); otherwise the workers already share the batch
    /// and this runs everything on the caller's thread.
    public var channelSplit: ChannelSplit {
        let pool = workspace.pool, threads = workers == 1 ? pool.size : 1
        guard threads > 1 else { return serial }
        return { count, body in
            let parts = min(threads, count)
            pool.run(workers: parts) { t in body((count * t / parts)..<(count * (t + 1) / parts)) }
        }
    }

    /// Runs `body` over ranges of the output's channels that together cover them all: shared
    /// among the pool's threads (``channelSplit``) when this worker is the pass's only one and its
    /// output holds at least 2²⁰ values (a whole photo's layer; on a 64×64 image's 2¹⁷ values,
    /// waking the threads cost more than it saved), otherwise all on the caller's thread. For
    /// layers that work channel by channel.
    public func forEachChannelRange(_ body: @escaping (Range<Int>) -> Void) {
        let split = samples.count * outputShape.count >= 1 << 20 ? channelSplit : serial
        split(outputShape.channels, body)
    }

    /// This worker's share of `count` rows (weight gradients split by rows over the whole batch).
    public func share(_ count: Int) -> Range<Int> { (count * worker / workers)..<(count * (worker + 1) / workers) }
}

/// The gradients one backward call reads and writes.
public struct LayerGradient {
    /// ∂loss/∂output for the whole batch.
    public let output: UnsafeMutablePointer<Float>
    /// Where ∂loss/∂input k goes (overwritten for the call's samples); nil when not needed.
    public let inputs: [UnsafeMutablePointer<Float>?]
    /// Whether to add into the store's parameter gradients.
    public let parameters: Bool
}
