/// Shape of one sample's activation: channels × height × width.
public struct SampleShape: Equatable, Sendable, CustomStringConvertible {
    public var channels: Int, height: Int, width: Int
    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels; self.height = height; self.width = width
    }
    public var count: Int { channels * height * width }
    public var description: String { "\(channels)×\(height)×\(width)" }
}

/// Convolution hyper-parameters (all convolutions here are square and have a bias).
public struct ConvSpec: Equatable, Sendable {
    public var inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int, padding: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }
}

/// One layer of a sequential network.
public enum LayerSpec: Equatable, Sendable {
    case conv2d(ConvSpec)
    case convTranspose2d(ConvSpec)
    case batchNorm2d(channels: Int)
    case activation(Activation)
}

/// A feed-forward chain of layers whose weights live in one `ParameterStore`, with
/// PyTorch-compatible tensor names (`prefix.N.weight`, …).
///
/// Batches flow through it channel-major, `[C][N][H][W]`: each convolution is then one GEMM
/// whose result needs no reshuffling. `ChannelMajor` converts to and from NCHW at the edges.
public final class Network {
    /// A layer bound to its tensors in the store.
    public struct Layer {
        public let name: String
        public let spec: LayerSpec
        public let input: SampleShape
        public let output: SampleShape
        public let weight: ParameterStore.View?
        public let bias: ParameterStore.View?
        let runningMean: ParameterStore.View?
        let runningVariance: ParameterStore.View?
        let counter: Int?

        var geometry: ConvGeometry? {
            switch spec {
            case .conv2d(let s):
                return ConvGeometry(channels: s.inChannels, kernel: s.kernel, stride: s.stride, padding: s.padding,
                                    imageH: input.height, imageW: input.width, gridH: output.height, gridW: output.width)
            case .convTranspose2d(let s):
                return ConvGeometry(channels: s.outChannels, kernel: s.kernel, stride: s.stride, padding: s.padding,
                                    imageH: output.height, imageW: output.width, gridH: input.height, gridW: input.width)
            default: return nil
            }
        }
    }

    public let layers: [Layer]
    public let store: ParameterStore
    public var inputShape: SampleShape { layers[0].input }
    public var outputShape: SampleShape { layers[layers.count - 1].output }

    /// Errors in a layer list (channel mismatch, a kernel larger than its input).
    public struct ShapeError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Builds the network for samples of `input` shape; `layers` are (name, spec) pairs.
    public init(input: SampleShape, layers specs: [(name: String, spec: LayerSpec)]) throws {
        var layout = ParameterStore.Layout()
        var shape = input
        var bound: [Layer] = []
        for (name, spec) in specs {
            var out = shape
            var weight: ParameterStore.View?, bias: ParameterStore.View?
            var rm: ParameterStore.View?, rv: ParameterStore.View?, counter: Int?
            switch spec {
            case .conv2d(let s), .convTranspose2d(let s):
                guard s.inChannels == shape.channels else {
                    throw ShapeError(description: "\(name): expects \(s.inChannels) channels, gets \(shape)")
                }
                let transposed: Bool
                if case .convTranspose2d = spec { transposed = true } else { transposed = false }
                if transposed {
                    out.height = (shape.height - 1) * s.stride - 2 * s.padding + s.kernel
                    out.width = (shape.width - 1) * s.stride - 2 * s.padding + s.kernel
                    weight = layout.addParameter("\(name).weight", shape: [s.inChannels, s.outChannels, s.kernel, s.kernel])
                } else {
                    out.height = (shape.height + 2 * s.padding - s.kernel) / s.stride + 1
                    out.width = (shape.width + 2 * s.padding - s.kernel) / s.stride + 1
                    weight = layout.addParameter("\(name).weight", shape: [s.outChannels, s.inChannels, s.kernel, s.kernel])
                }
                guard out.height > 0, out.width > 0 else {
                    throw ShapeError(description: "\(name): input \(shape) too small for kernel \(s.kernel)")
                }
                out.channels = s.outChannels
                bias = layout.addParameter("\(name).bias", shape: [s.outChannels])
            case .batchNorm2d(let channels):
                guard channels == shape.channels else {
                    throw ShapeError(description: "\(name): expects \(channels) channels, gets \(shape)")
                }
                weight = layout.addParameter("\(name).weight", shape: [channels])
                bias = layout.addParameter("\(name).bias", shape: [channels])
                rm = layout.addBuffer("\(name).running_mean", shape: [channels])
                rv = layout.addBuffer("\(name).running_var", shape: [channels])
                counter = layout.addCounter("\(name).num_batches_tracked")
            case .activation:
                break
            }
            bound.append(Layer(name: name, spec: spec, input: shape, output: out, weight: weight, bias: bias,
                               runningMean: rm, runningVariance: rv, counter: counter))
            shape = out
        }
        guard !bound.isEmpty else { throw ShapeError(description: "a network needs at least one layer") }
        layers = bound
        store = ParameterStore(layout: layout)
        resetBatchNormState()
    }

    /// PyTorch's fresh BatchNorm state: running mean 0, running variance 1, counter 0.
    public func resetBatchNormState() {
        for layer in layers {
            if let rm = layer.runningMean, let rv = layer.runningVariance {
                (store.buffers + rm.offset).update(repeating: 0, count: rm.count)
                (store.buffers + rv.offset).update(repeating: 1, count: rv.count)
            }
            if let counter = layer.counter { store.counters[counter] = 0 }
        }
    }

    /// Multiply-adds of one sample's forward pass (for FLOP figures).
    public var multiplyAddsPerSample: Int {
        layers.reduce(0) { total, layer in
            guard let g = layer.geometry else { return total }
            switch layer.spec {
            case .conv2d(let s): return total + g.gridSize * s.outChannels * g.columnRows
            case .convTranspose2d(let s): return total + g.gridSize * s.inChannels * g.columnRows
            default: return total
            }
        }
    }

    /// Column matrices up to this many floats stay in cache between im2col and the GEMM that reads them.
    static let columnBudget = 1 << 19

    /// `s` cut into consecutive pieces whose column matrices fit `columnBudget`.
    static func chunks(_ s: SampleRange, columnsPerSample: Int) -> [SampleRange] {
        let size = max(1, columnBudget / max(columnsPerSample, 1))
        return stride(from: s.range.lowerBound, to: s.range.upperBound, by: size).map {
            SampleRange(batch: s.batch, $0..<min($0 + size, s.range.upperBound))
        }
    }

    @inline(__always) func param(_ view: ParameterStore.View) -> UnsafeMutablePointer<Float> {
        store.parameters + view.offset
    }
    @inline(__always) func grad(_ view: ParameterStore.View) -> UnsafeMutablePointer<Float> {
        store.gradients + view.offset
    }
}

/// How a forward pass treats BatchNorm.
public enum ForwardMode: Equatable, Sendable {
    /// Batch statistics; running statistics updated when `updateRunningStats`.
    case train(updateRunningStats: Bool)
    /// Running statistics.
    case eval
}

/// The activations one forward pass keeps for its backward, reusable across passes
/// (its buffers are allocated once and grown only when needed).
public final class Trace {
    /// `activations[0]` is the input, `activations[i + 1]` the output of layer `i`.
    var activations: [FloatBuffer] = []
    /// Per conv layer in training mode: im2col of its input. Per BatchNorm layer: mean and 1/σ per channel.
    var saved: [FloatBuffer] = []
    public private(set) var batch = 0
    public private(set) var mode: ForwardMode = .eval

    public init() {}

    /// The output of the last forward pass, channel-major.
    public var output: UnsafeMutablePointer<Float> { activations[activations.count - 1].pointer }

    func prepare(for network: Network, batch n: Int, mode: ForwardMode) {
        self.batch = n
        self.mode = mode
        if activations.count != network.layers.count + 1 {
            activations = (0...network.layers.count).map { _ in FloatBuffer(count: 0) }
            saved = network.layers.map { _ in FloatBuffer(count: 0) }
        }
        activations[0].reserve(n * network.inputShape.count)
        for (i, layer) in network.layers.enumerated() {
            activations[i + 1].reserve(n * layer.output.count)
            switch layer.spec {
            case .conv2d: if case .train = mode { saved[i].reserve(layer.geometry!.columnRows * n * layer.geometry!.gridSize) }
            case .batchNorm2d(let c): saved[i].reserve(2 * c)
            default: break
            }
        }
    }
}

/// Threads and scratch memory for passes through one network, shared by the traces of one user
/// (an objective, a projector). One pass at a time; separate users need separate workspaces.
public final class Workspace {
    let pool: WorkerPool
    /// Per worker: column matrices of its samples.
    var columns: [FloatBuffer]
    /// im2col of a ConvTranspose2d's output gradient for the whole batch (every worker fills its columns).
    var sharedColumns = FloatBuffer(count: 0)
    /// Gradients flowing backwards through the batch, alternating between layers.
    var flowing = [FloatBuffer(count: 0), FloatBuffer(count: 0)]
    /// Per BatchNorm layer: every worker's partial sums (forward moments, backward sums).
    var partials: [Int: UnsafeMutablePointer<Double>] = [:]
    var partialsCapacity = 0

    /// A workspace running passes on `threads` threads (at least 1).
    public init(threads: Int) {
        pool = WorkerPool(size: threads)
        columns = (0..<pool.size).map { _ in FloatBuffer(count: 0) }
    }

    deinit { for p in partials.values { p.deallocate() } }

    public var threads: Int { pool.size }

    /// Threads worth using for `n` samples: each needs at least one.
    func workers(for n: Int) -> Int { min(pool.size, n) }

    func prepare(_ network: Network, batch n: Int, workers: Int) {
        let perWorker = (n + workers - 1) / workers
        let columnSize = network.layers.compactMap { layer in
            layer.geometry.map { g in
                let perSample = g.columnRows * g.gridSize
                return perSample * min(perWorker, max(1, Network.columnBudget / perSample))
            }
        }.max() ?? 0
        for w in 0..<workers { columns[w].reserve(columnSize) }
        let widest = network.layers.map { layer -> Int in
            if case .batchNorm2d(let c) = layer.spec { return c } else { return 0 }
        }.max()!
        let needed = 4 * widest * workers
        if needed > partialsCapacity {
            for p in partials.values { p.deallocate() }
            partials = [:]
            partialsCapacity = needed
        }
        for (i, layer) in network.layers.enumerated() where partials[i] == nil {
            if case .batchNorm2d = layer.spec {
                partials[i] = .allocate(capacity: partialsCapacity)
            }
        }
    }

    /// Runs `body(worker, samples)` over the batch split into `workers` contiguous sample ranges;
    /// a single worker gets OpenBLAS's threads instead, where `blasThreads` allows.
    func run(batch n: Int, workers: Int, blasThreads: Bool = true, _ body: @escaping (Int, SampleRange) -> Void) {
        if workers == 1 {
            Parallel.withBLASThreads(blasThreads ? pool.size : 1) { body(0, SampleRange(batch: n)) }
        } else {
            Parallel.withBLASThreads(1) {
                pool.run(workers: workers) { w in body(w, SampleRange(batch: n, (n * w / workers)..<(n * (w + 1) / workers))) }
            }
        }
    }
}

extension Network {
    /// Runs the network on `n` samples read from `input` (channel-major), recording into `trace`.
    /// Returns the output (channel-major), owned by `trace`.
    @discardableResult
    public func forward(_ input: UnsafePointer<Float>, batch n: Int, mode: ForwardMode, trace: Trace,
                        workspace: Workspace) -> UnsafeMutablePointer<Float> {
        trace.prepare(for: self, batch: n, mode: mode)
        trace.activations[0].pointer.update(from: input, count: n * inputShape.count)
        let workers = workspace.workers(for: n)
        workspace.prepare(self, batch: n, workers: workers)
        // Eval mode keeps OpenBLAS single-threaded: its threads split a GEMM at points that
        // depend on the batch, and so would a sample's result.
        workspace.run(batch: n, workers: workers, blasThreads: mode != .eval) { w, s in
            for i in self.layers.indices { self.forwardLayer(i, s, worker: w, workers: workers, mode: mode, trace: trace, workspace: workspace) }
        }
        if mode == .train(updateRunningStats: true) {
            for layer in layers { if let counter = layer.counter { store.counters[counter] += 1 } }
        }
        return trace.output
    }

    private func forwardLayer(_ i: Int, _ s: SampleRange, worker w: Int, workers: Int, mode: ForwardMode, trace: Trace,
                              workspace: Workspace) {
        let layer = layers[i], n = s.batch
        let x = UnsafePointer(trace.activations[i].pointer), y = trace.activations[i + 1].pointer
        let plane = layer.output.height * layer.output.width
        switch layer.spec {
        case .conv2d(let spec):
            let g = layer.geometry!
            for chunk in Self.chunks(s, columnsPerSample: g.columnRows * g.gridSize) {
                let (col, ldCol): (UnsafeMutablePointer<Float>, Int)
                if case .train = mode {
                    (col, ldCol) = (trace.saved[i].pointer + chunk.first * g.gridSize, n * g.gridSize)
                } else {
                    (col, ldCol) = (workspace.columns[w].pointer, chunk.count * g.gridSize)
                }
                conv2dForward(x: x, y: y, col: col, ldCol: ldCol, weight: param(layer.weight!), bias: param(layer.bias!),
                              outChannels: spec.outChannels, geometry: g, samples: chunk, perSample: mode == .eval)
            }
        case .convTranspose2d(let spec):
            let g = layer.geometry!
            for chunk in Self.chunks(s, columnsPerSample: g.columnRows * g.gridSize) {
                convTranspose2dForward(x: x, y: y, colScratch: workspace.columns[w].pointer, weight: param(layer.weight!),
                                       bias: param(layer.bias!), inChannels: spec.inChannels, geometry: g, samples: chunk,
                                       perSample: mode == .eval)
            }
        case .batchNorm2d(let c):
            switch mode {
            case .train(let update):
                let partials = workspace.partials[i]!
                BatchNorm.moments(x, s, channels: c, plane: plane, into: partials + w * 2 * c)
                workspace.pool.barrier()
                var total = [Double](repeating: 0, count: 2 * c)
                for other in 0..<workers { for k in 0..<(2 * c) { total[k] += partials[other * 2 * c + k] } }
                // Every worker derives the same statistics; worker 0 keeps them and updates the running ones.
                var local = [Float](repeating: 0, count: 2 * c)
                local.withUnsafeMutableBufferPointer { stats in
                    let running = (update && w == 0)
                        ? (mean: store.buffers + layer.runningMean!.offset, variance: store.buffers + layer.runningVariance!.offset)
                        : nil
                    BatchNorm.statistics(moments: total, channels: c, count: n * plane, mean: stats.baseAddress!,
                                         invStd: stats.baseAddress! + c, running: running)
                    if w == 0 { trace.saved[i].pointer.update(from: stats.baseAddress!, count: 2 * c) }
                    BatchNorm.normalize(x, y, s, channels: c, plane: plane, gamma: param(layer.weight!), beta: param(layer.bias!),
                                        mean: stats.baseAddress!, invStd: stats.baseAddress! + c)
                }
            case .eval:
                BatchNorm.normalizeEval(x, y, s, channels: c, plane: plane, gamma: param(layer.weight!), beta: param(layer.bias!),
                                        runningMean: store.buffers + layer.runningMean!.offset,
                                        runningVariance: store.buffers + layer.runningVariance!.offset)
            }
        case .activation(let f):
            f.forward(x, y, s, channels: layer.output.channels, plane: plane)
        }
    }

    /// Backpropagates `outputGrad` (channel-major, same shape as the trace's output) through the
    /// pass recorded in `trace`, which must be a training-mode pass.
    /// With `parameterGradients`, adds into the store's gradients; with `inputGradient`, returns
    /// the gradient with respect to the input (valid until the next pass on `workspace`).
    ///
    /// Threads own sample ranges for input gradients and split weight gradients by rows, each row
    /// summed over the whole batch, so no thread needs a private copy of the gradients.
    @discardableResult
    public func backward(_ outputGrad: UnsafePointer<Float>, trace: Trace, workspace: Workspace,
                         parameterGradients: Bool, inputGradient: Bool) -> UnsafePointer<Float>? {
        guard case .train = trace.mode else { preconditionFailure("backward needs a training-mode trace") }
        let n = trace.batch
        let largest = layers.map { max($0.input.count, $0.output.count) }.max()! * n
        for buffer in workspace.flowing { buffer.reserve(largest) }
        workspace.flowing[0].pointer.update(from: outputGrad, count: n * outputShape.count)
        let workers = workspace.workers(for: n)
        workspace.prepare(self, batch: n, workers: workers)
        let transposedColumns = layers.map { layer -> Int in
            if case .convTranspose2d = layer.spec, let g = layer.geometry { return g.columnRows * g.gridSize } else { return 0 }
        }.max()!
        workspace.sharedColumns.reserve(transposedColumns * n)
        var finalIndex = 0
        workspace.run(batch: n, workers: workers) { w, s in
            var k = 0
            for i in self.layers.indices.reversed() {
                let last = i == 0 && !inputGradient
                self.backwardLayer(i, s, worker: w, workers: workers, trace: trace, workspace: workspace,
                                   dy: workspace.flowing[k % 2].pointer, dx: last ? nil : workspace.flowing[(k + 1) % 2].pointer,
                                   parameterGradients: parameterGradients)
                if last { break }
                k += 1
                // The next layer needs this one's input gradient for the whole batch (weight gradients
                // sum over all samples), and writes into the buffer this one read, in another layout.
                workspace.pool.barrier()
            }
            if w == 0 { finalIndex = k % 2 }
        }
        return inputGradient ? UnsafePointer(workspace.flowing[finalIndex].pointer) : nil
    }

    private func backwardLayer(_ i: Int, _ s: SampleRange, worker w: Int, workers: Int, trace: Trace, workspace: Workspace,
                               dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?, parameterGradients: Bool) {
        let layer = layers[i], n = s.batch
        let x = UnsafePointer(trace.activations[i].pointer), y = UnsafePointer(trace.activations[i + 1].pointer)
        let plane = layer.output.height * layer.output.width
        /// This worker's share of `count` rows.
        func share(_ count: Int) -> Range<Int> { (count * w / workers)..<(count * (w + 1) / workers) }
        switch layer.spec {
        case .conv2d(let spec):
            let g = layer.geometry!
            if parameterGradients {
                conv2dWeightGradient(dy: dy, col: trace.saved[i].pointer, ldCol: n * g.gridSize, weightGrad: grad(layer.weight!),
                                     biasGrad: grad(layer.bias!), rows: share(spec.outChannels), geometry: g, batch: n)
            }
            if let dx {
                for chunk in Self.chunks(s, columnsPerSample: g.columnRows * g.gridSize) {
                    conv2dInputGradient(dy: dy, weight: param(layer.weight!), dx: dx, colScratch: workspace.columns[w].pointer,
                                        outChannels: spec.outChannels, geometry: g, samples: chunk)
                }
            }
        case .convTranspose2d(let spec):
            let g = layer.geometry!, dcol = workspace.sharedColumns.pointer
            im2col(dy, s, dcol + s.first * g.gridSize, ldCol: n * g.gridSize, g)
            workspace.pool.barrier()
            if parameterGradients {
                convTranspose2dWeightGradient(dy: dy, x: x, dcol: dcol, weightGrad: grad(layer.weight!), biasGrad: grad(layer.bias!),
                                              rows: share(spec.inChannels), biasChannels: share(spec.outChannels),
                                              geometry: g, batch: n)
            }
            if let dx {
                convTranspose2dInputGradient(dcol: dcol, weight: param(layer.weight!), dx: dx, inChannels: spec.inChannels,
                                             geometry: g, samples: s)
            }
        case .batchNorm2d(let c):
            let stats = trace.saved[i].pointer, partials = workspace.partials[i]! + 2 * c * workers
            BatchNorm.backwardSums(dy: dy, x: x, s, channels: c, plane: plane, mean: stats, invStd: stats + c,
                                   into: partials + w * 2 * c)
            workspace.pool.barrier()
            var total = [Double](repeating: 0, count: 2 * c)
            for other in 0..<workers { for k in 0..<(2 * c) { total[k] += partials[other * 2 * c + k] } }
            if parameterGradients && w == 0 {
                let gammaGrad = grad(layer.weight!), betaGrad = grad(layer.bias!)
                for k in 0..<c { betaGrad[k] += Float(total[k]); gammaGrad[k] += Float(total[c + k]) }
            }
            if let dx {
                BatchNorm.backwardInput(dy: dy, x: x, dx: dx, s, channels: c, plane: plane, gamma: param(layer.weight!),
                                        mean: stats, invStd: stats + c, sums: total, count: n * plane)
            }
        case .activation(let f):
            if let dx { f.backward(dy: dy, y: y, dx: dx, s, channels: layer.output.channels, plane: plane) }
        }
    }
}
