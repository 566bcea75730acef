import Dispatch

/// A layer as an architecture declares it. ``makeLayer()`` is the one place a kind of layer is
/// turned into its type.
public enum LayerSpec: Equatable, Sendable {
    case conv2d(ConvSpec)
    case convTranspose2d(ConvSpec)
    case batchNorm2d(channels: Int)
    case groupNorm(groups: Int, channels: Int)
    case activation(Activation)
    case upsample(factor: Int)
    /// The previous layer's output plus the output of the layer named (`"input"`: the network's input).
    case add(String)
    /// The previous layer's channels followed by those of the layer named.
    case concat(String)

    /// The layer whose output this one takes besides the previous layer's.
    public var skipSource: String? {
        switch self {
        case .add(let name), .concat(let name): return name
        default: return nil
        }
    }

    public func makeLayer() -> Layer {
        switch self {
        case .conv2d(let s): return Conv2d(s)
        case .convTranspose2d(let s): return ConvTranspose2d(s)
        case .batchNorm2d(let c): return BatchNorm2d(channels: c)
        case .groupNorm(let g, let c): return GroupNorm(groups: g, channels: c)
        case .activation(let f): return ActivationLayer(f)
        case .upsample(let f): return Upsample(factor: f)
        case .add: return Add()
        case .concat: return Concat()
        }
    }
}

/// A network of layers whose weights live in one `ParameterStore`, with PyTorch-compatible
/// tensor names (`prefix.N.weight`, …). Layers run in order; each takes the previous layer's
/// output, and a skip connection (``LayerSpec/add(_:)``, ``LayerSpec/concat(_:)``) also an
/// earlier one's.
///
/// Batches flow through it channel-major, `[C][N][H][W]`: each convolution is then one GEMM
/// whose result needs no reshuffling. `ChannelMajor` converts to and from NCHW at the edges.
/// A network built for one input shape runs on any other its layers accept (a
/// fully-convolutional one on any H×W): `forward(…, shape:)`.
public final class Network {
    /// A layer bound to its place in the network.
    public struct Node {
        public let name: String
        public let spec: LayerSpec
        public let layer: Layer
        /// Activations it reads: 0 is the network's input, `i + 1` the output of node `i`.
        public let inputs: [Int]
        /// Per input: whether a later node (or an earlier input of this one) reads it too, so
        /// that this node's gradient for it must be added to what is there.
        let accumulates: [Bool]
    }

    public let nodes: [Node]
    public let store: ParameterStore
    /// The input shape the network was built for, and its output shape.
    public let inputShape: SampleShape, outputShape: SampleShape

    /// Builds the network for samples of `input` shape; `layers` are (name, spec) pairs.
    public init(input: SampleShape, layers specs: [(name: String, spec: LayerSpec)]) throws {
        guard !specs.isEmpty else { throw ShapeError("a network needs at least one layer") }
        var layout = ParameterStore.Layout()
        var index = ["input": 0]
        var wiring: [[Int]] = []
        var layers: [Layer] = []
        for (i, (name, spec)) in specs.enumerated() {
            guard index[name] == nil else { throw ShapeError("\(name): two layers have this name") }
            var inputs = [i]
            if let source = spec.skipSource {
                guard let j = index[source] else { throw ShapeError("\(name): no earlier layer named '\(source)'") }
                inputs.append(j)
            }
            let layer = spec.makeLayer()
            layer.register(name, in: &layout)
            layers.append(layer)
            wiring.append(inputs)
            index[name] = i + 1
        }
        let consumed = Set(wiring.joined())
        if let unused = (1..<specs.count).first(where: { !consumed.contains($0) }) {
            throw ShapeError("\(specs[unused - 1].name): its output is never used")
        }
        nodes = specs.indices.map { i in
            let inputs = wiring[i]
            let accumulates = inputs.enumerated().map { k, j in
                wiring[(i + 1)...].contains { $0.contains(j) } || inputs[..<k].contains(j)
            }
            return Node(name: specs[i].name, spec: specs[i].spec, layer: layers[i], inputs: inputs, accumulates: accumulates)
        }
        store = ParameterStore(layout: layout)
        inputShape = input
        outputShape = try Self.shapes(nodes, input: input).last!
        resetBatchNormState()
    }

    /// The shape of every activation for an input of `shape`: `[input, node 0's output, …]`.
    public func shapes(for shape: SampleShape) throws -> [SampleShape] { try Self.shapes(nodes, input: shape) }

    private static func shapes(_ nodes: [Node], input: SampleShape) throws -> [SampleShape] {
        var shapes = [input]
        for node in nodes {
            do {
                shapes.append(try node.layer.outputShape(node.inputs.map { shapes[$0] }))
            } catch let error as ShapeError {
                throw ShapeError("\(node.name): \(error.description)")
            }
        }
        return shapes
    }

    /// Whether any layer is a BatchNorm (whose running statistics calibration sets).
    public var hasBatchNorm: Bool { nodes.contains { $0.layer is BatchNorm2d } }

    /// PyTorch's fresh BatchNorm state: running mean 0, running variance 1, counter 0.
    public func resetBatchNormState() {
        for node in nodes { (node.layer as? BatchNorm2d)?.resetRunningStatistics(store) }
    }

    /// Multiply-adds of one sample's forward pass at the built input shape (for FLOP figures).
    public var multiplyAddsPerSample: Int {
        let shapes = try! shapes(for: inputShape)
        return nodes.indices.reduce(0) { total, i in
            total + nodes[i].layer.multiplyAdds(nodes[i].inputs.map { shapes[$0] }, shapes[i + 1])
        }
    }
}

/// The activations one forward pass keeps for its backward, reusable across passes
/// (its buffers are allocated once and grown only when needed).
public final class Trace {
    /// `activations[0]` is the input, `activations[i + 1]` the output of node `i`.
    var activations: [FloatBuffer] = []
    /// Per node: what its layer kept for the backward.
    var saved: [SavedState?] = []
    /// The shape of every activation of the last pass.
    public private(set) var shapes: [SampleShape] = []
    public private(set) var batch = 0
    public private(set) var mode: ForwardMode = .eval

    public init() {}

    /// The output of the last forward pass, channel-major, and its shape.
    public var output: UnsafeMutablePointer<Float> { activations[activations.count - 1].pointer }
    public var outputShape: SampleShape { shapes[shapes.count - 1] }
    /// Activation `index` of the last pass (0 the input, `i + 1` node `i`'s output), channel-major.
    public func activation(_ index: Int) -> UnsafeMutablePointer<Float> { activations[index].pointer }

    func prepare(for network: Network, shapes: [SampleShape], batch n: Int, mode: ForwardMode) {
        self.batch = n
        self.mode = mode
        self.shapes = shapes
        if activations.count != shapes.count {
            activations = shapes.map { _ in FloatBuffer(count: 0) }
            saved = network.nodes.map { _ in nil }
        }
        for (j, shape) in shapes.enumerated() { activations[j].reserve(n * shape.count) }
        for (i, node) in network.nodes.enumerated() {
            saved[i] = node.layer.prepareSaved(saved[i], node.inputs.map { shapes[$0] }, batch: n)
        }
    }
}

/// Threads and scratch memory for passes through one network, shared by the traces of one user
/// (an objective, a projector). One pass at a time; separate users need separate workspaces.
public final class Workspace {
    let pool: WorkerPool
    /// Per worker: column matrices of its samples.
    var columns: [FloatBuffer]
    /// Scratch all workers of a backward see (a convolution's partial weight gradients, the whole
    /// batch's im2col of a transposed convolution's output gradient).
    var shared = FloatBuffer(count: 0)
    /// Per activation: the gradient flowing back into it.
    var gradients: [FloatBuffer] = []
    /// Where a layer writes an input gradient that is then added to what is there (two: a layer
    /// may add into both of its inputs).
    var spares = [FloatBuffer(count: 0), FloatBuffer(count: 0)]
    /// Cross-worker sums: two alternating slots of `reductionCapacity` doubles per worker.
    var reductions: UnsafeMutablePointer<Double>?
    var reductionCapacity = 0
    /// Per worker: how many sums it has taken part in during the current pass.
    var reductionRounds: [Int]
    /// When set, every pass on this workspace records each layer's time into it (the workers
    /// then wait for each other after every layer, so that the times are the layer's alone).
    public var profile: LayerProfile?

    /// A workspace running passes on `threads` threads (at least 1).
    public init(threads: Int) {
        pool = WorkerPool(size: threads)
        columns = (0..<pool.size).map { _ in FloatBuffer(count: 0) }
        reductionRounds = Array(repeating: 0, count: pool.size)
    }

    deinit { reductions?.deallocate() }

    public var threads: Int { pool.size }

    /// Threads worth using for `n` samples: each needs at least one.
    func workers(for n: Int) -> Int { min(pool.size, n) }

    func prepare(_ network: Network, shapes: [SampleShape], batch n: Int, workers: Int, backward: Bool) {
        let perWorker = (n + workers - 1) / workers
        var columnSize = 0, sharedSize = 0, reduction = 0
        for (i, node) in network.nodes.enumerated() {
            let inputs = node.inputs.map { shapes[$0] }
            columnSize = max(columnSize, node.layer.workerScratch(inputs, shapes[i + 1], samples: perWorker, backward: backward))
            if backward { sharedSize = max(sharedSize, node.layer.sharedScratch(inputs, shapes[i + 1], batch: n, workers: workers)) }
            reduction = max(reduction, node.layer.reductionSize(inputs))
        }
        for w in 0..<workers { columns[w].reserve(columnSize) }
        shared.reserve(sharedSize)
        if reduction > reductionCapacity {
            reductions?.deallocate()
            reductions = .allocate(capacity: 2 * reduction * pool.size)
            reductionCapacity = reduction
        }
        for w in 0..<pool.size { reductionRounds[w] = 0 }
        if backward {
            if gradients.count != shapes.count { gradients = shapes.map { _ in FloatBuffer(count: 0) } }
            for (j, shape) in shapes.enumerated() { gradients[j].reserve(n * shape.count) }
            let largest = shapes.map(\.count).max()! * n
            for spare in spares { spare.reserve(largest) }
        }
    }

    /// Every worker's `partial` summed in worker order. A worker's values go into one of two
    /// slots, alternating by round: by the time a slot is written again, every worker has passed
    /// the barrier of the round in between, so nobody still reads it.
    func sumOverWorkers(_ partial: [Double], worker: Int, workers: Int) -> [Double] {
        let round = reductionRounds[worker]
        reductionRounds[worker] += 1
        let slot = reductions! + (round % 2) * reductionCapacity * pool.size
        (slot + worker * reductionCapacity).update(from: partial, count: partial.count)
        pool.barrier()
        var total = [Double](repeating: 0, count: partial.count)
        for other in 0..<workers {
            let values = slot + other * reductionCapacity
            for k in total.indices { total[k] += values[k] }
        }
        return total
    }

    /// Runs `body(worker, samples)` over the batch split into `workers` contiguous sample ranges;
    /// a single worker gets OpenBLAS's threads instead.
    func run(batch n: Int, workers: Int, _ body: @escaping (Int, SampleRange) -> Void) {
        if workers == 1 {
            Parallel.withBLASThreads(pool.size) { body(0, SampleRange(batch: n)) }
        } else {
            Parallel.withBLASThreads(1) {
                pool.run(workers: workers) { w in body(w, SampleRange(batch: n, (n * w / workers)..<(n * (w + 1) / workers))) }
            }
        }
    }
}

extension Network {
    /// Runs the network on `n` samples of `shape` (the built input shape when nil) read from
    /// `input` (channel-major), recording into `trace`. Returns the output (channel-major,
    /// `trace.outputShape`), owned by `trace`. The shape must be one ``shapes(for:)`` accepts.
    @discardableResult
    public func forward(_ input: UnsafePointer<Float>, batch n: Int, shape: SampleShape? = nil, mode: ForwardMode,
                        trace: Trace, workspace: Workspace) -> UnsafeMutablePointer<Float> {
        let shapes: [SampleShape]
        do { shapes = try self.shapes(for: shape ?? inputShape) } catch { preconditionFailure("\(error)") }
        trace.prepare(for: self, shapes: shapes, batch: n, mode: mode)
        trace.activations[0].pointer.update(from: input, count: n * shapes[0].count)
        let workers = workspace.workers(for: n)
        workspace.prepare(self, shapes: shapes, batch: n, workers: workers, backward: false)
        let activations = trace.activations.map(\.pointer)
        let profile = workspace.profile
        profile?.prepare(nodes: nodes.count)
        workspace.run(batch: n, workers: workers) { w, s in
            for (i, node) in self.nodes.enumerated() {
                let start = profile?.now()
                node.layer.forward(LayerCall(inputs: node.inputs.map { activations[$0] }, inputShapes: node.inputs.map { shapes[$0] },
                                             output: activations[i + 1], outputShape: shapes[i + 1], samples: s, mode: mode,
                                             saved: trace.saved[i], store: self.store, workspace: workspace, worker: w,
                                             workers: workers))
                if let profile, let start {
                    workspace.pool.barrier()
                    if w == 0 { profile.forward[i] += profile.now() - start }
                }
            }
        }
        return trace.output
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
        let n = trace.batch, shapes = trace.shapes
        let workers = workspace.workers(for: n)
        workspace.prepare(self, shapes: shapes, batch: n, workers: workers, backward: true)
        workspace.gradients[shapes.count - 1].pointer.update(from: outputGrad, count: n * shapes[shapes.count - 1].count)
        let activations = trace.activations.map(\.pointer), gradients = workspace.gradients.map(\.pointer)
        let spares = workspace.spares.map(\.pointer)
        let profile = workspace.profile
        profile?.prepare(nodes: nodes.count)
        workspace.run(batch: n, workers: workers) { w, s in
            for (i, node) in self.nodes.enumerated().reversed() {
                let start = profile?.now()
                let targets = node.inputs.enumerated().map { k, j -> UnsafeMutablePointer<Float>? in
                    guard j > 0 || inputGradient else { return nil }
                    return node.accumulates[k] ? spares[k] : gradients[j]
                }
                let call = LayerCall(inputs: node.inputs.map { activations[$0] }, inputShapes: node.inputs.map { shapes[$0] },
                                     output: activations[i + 1], outputShape: shapes[i + 1], samples: s, mode: trace.mode,
                                     saved: trace.saved[i], store: self.store, workspace: workspace, worker: w, workers: workers)
                node.layer.backward(call, LayerGradient(output: gradients[i + 1], inputs: targets, parameters: parameterGradients))
                for (k, j) in node.inputs.enumerated() where node.accumulates[k] && targets[k] != nil {
                    let shape = shapes[j]
                    for c in 0..<shape.channels {
                        let into = channelRun(gradients[j], channel: c, s, plane: shape.plane)
                        let from = channelRun(spares[k], channel: c, s, plane: shape.plane)
                        for e in 0..<into.count { into[e] += from[e] }
                    }
                }
                // The next node needs this one's input gradient for the whole batch (weight
                // gradients sum over all samples), and may overwrite scratch this one read.
                if i > 0 || profile != nil { workspace.pool.barrier() }
                if let profile, let start, w == 0 { profile.backward[i] += profile.now() - start }
            }
        }
        return inputGradient ? UnsafePointer(gradients[0]) : nil
    }
}

/// Seconds each node of a network took, summed over the passes a workspace ran while it was
/// that workspace's ``Workspace/profile``.
public final class LayerProfile {
    public internal(set) var forward: [Double] = []
    public internal(set) var backward: [Double] = []

    public init() {}

    func prepare(nodes: Int) {
        if forward.count != nodes {
            forward = Array(repeating: 0, count: nodes)
            backward = Array(repeating: 0, count: nodes)
        }
    }

    /// The times divided by `calls`: per call.
    public func averaged(over calls: Int) -> LayerProfile {
        let result = LayerProfile()
        result.forward = forward.map { $0 / Double(calls) }
        result.backward = backward.map { $0 / Double(calls) }
        return result
    }

    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
