import Engine

/// Applies a model to batches of samples, reusing its buffers from call to call.
/// Inference runs in eval mode (running statistics) unless asked otherwise, so a sample's
/// output never depends on its batch-mates.
public final class Projector {
    public let model: IGNModel
    /// The BatchNorm statistics the passes use (``IGNModel/resolve(_:)`` of the one asked for).
    public let statistics: StatisticsSet
    private let trace = Trace()
    /// Threads and scratch of its passes (set `workspace.profile` to time its layers).
    public let workspace: Workspace
    private let input = FloatBuffer(count: 0)

    /// A projector whose passes run on `threads` threads with the `statistics` set (the
    /// generation set falls back to the projection set when the model has none).
    public init(model: IGNModel, threads: Int, statistics: StatisticsSet = .projection) {
        self.model = model
        self.statistics = model.resolve(statistics).set
        workspace = Workspace(threads: threads)
    }

    /// Applies f `steps` times to `count` samples stored NCHW in `batch`; returns the NCHW result of
    /// every application (`result[k-1]` = f^k(x)). Train mode (or the `.batch` set) uses batch
    /// statistics and leaves the running statistics as they are. `shape` (the model's by default)
    /// may be any size a fully-convolutional model accepts.
    public func apply(_ batch: UnsafePointer<Float>, count n: Int, steps: Int, shape: SampleShape? = nil,
                      trainMode: Bool = false) -> [[Float]] {
        run(batch, count: n, steps: steps, shape: shape, trainMode: trainMode, keepsLatents: false).outputs
    }

    /// ``apply(_:count:steps:shape:trainMode:)``, and the latent code (the encoder's output,
    /// sample-major) of every application's input: `latents[k-1]` is that of f^(k-1)(x).
    public func applyKeepingLatents(_ batch: UnsafePointer<Float>, count n: Int, steps: Int, shape: SampleShape? = nil)
        -> (outputs: [[Float]], latents: [[Float]]) {
        run(batch, count: n, steps: steps, shape: shape, trainMode: false, keepsLatents: true)
    }

    private func run(_ batch: UnsafePointer<Float>, count n: Int, steps: Int, shape: SampleShape?, trainMode: Bool,
                     keepsLatents: Bool) -> (outputs: [[Float]], latents: [[Float]]) {
        let shape = shape ?? model.sampleShape
        let mode: ForwardMode = trainMode || statistics == .batch ? .train(updateRunningStats: false) : .eval
        input.reserve(n * shape.count)
        ChannelMajor.fromSampleMajor(batch, input.pointer, batch: n, shape: shape)
        return model.withStatistics(statistics) { prepare in
            var results: [[Float]] = [], latents: [[Float]] = []
            var current = UnsafePointer(input.pointer)
            for step in 0..<steps {
                prepare(step + 1)
                let out = model.network.forward(current, batch: n, shape: shape, mode: mode, trace: trace, workspace: workspace)
                results.append(sampleMajor(out, batch: n, shape: shape))
                if keepsLatents {
                    let index = model.latentActivation
                    latents.append(sampleMajor(trace.activation(index), batch: n, shape: trace.shapes[index]))
                }
                current = UnsafePointer(out)
            }
            return (results, latents)
        }
    }

    private func sampleMajor(_ values: UnsafePointer<Float>, batch n: Int, shape: SampleShape) -> [Float] {
        var nchw = [Float](repeating: 0, count: n * shape.count)
        nchw.withUnsafeMutableBufferPointer { ChannelMajor.toSampleMajor(values, $0.baseAddress!, batch: n, shape: shape) }
        return nchw
    }

    /// Applies f `steps` times to `count` samples stored NCHW in `values`, `batchSize` samples per
    /// pass (all in one pass when nil); returns every application, NCHW (`result[k-1]` = f^k(x)).
    /// In eval mode the batch size changes nothing; in train mode each batch has its own statistics.
    public func apply(_ values: [Float], count n: Int, steps: Int, batchSize: Int? = nil, trainMode: Bool = false) -> [[Float]] {
        let d = model.sampleShape.count
        precondition(values.count == n * d, "values do not hold \(n) samples of \(model.sampleShape)")
        let chunk = max(1, batchSize ?? n)
        var results = [[Float]](repeating: [], count: steps)
        for k in 0..<steps { results[k].reserveCapacity(n * d) }
        values.withUnsafeBufferPointer { all in
            for start in stride(from: 0, to: n, by: chunk) {
                let out = apply(all.baseAddress! + start * d, count: min(chunk, n - start), steps: steps, trainMode: trainMode)
                for k in 0..<steps { results[k] += out[k] }
            }
        }
        return results
    }
}
