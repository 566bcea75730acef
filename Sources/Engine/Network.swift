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
/// whose result needs no reshuffling. `Batch` converts to and from NCHW at the edges.
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
/// of the same batch size (its buffers are allocated once and grown only when needed).
public final class Trace {
    /// `activations[0]` is the input, `activations[i + 1]` the output of layer `i`.
    var activations: [FloatBuffer] = []
    /// Per conv layer: im2col of its input. Per BatchNorm layer: mean and 1/σ per channel.
    var saved: [FloatBuffer] = []
    public private(set) var batch = 0
    public private(set) var mode: ForwardMode = .eval

    public init() {}

    /// The output of the last forward pass, channel-major.
    public var output: UnsafeMutablePointer<Float> { activations[activations.count - 1].pointer }
    /// The input of the last forward pass, channel-major.
    public var input: UnsafeMutablePointer<Float> { activations[0].pointer }

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
            case .conv2d: saved[i].reserve(layer.geometry!.columnRows * n * layer.geometry!.gridSize)
            case .batchNorm2d(let c): saved[i].reserve(2 * c)
            default: break
            }
        }
    }
}

/// Scratch memory for backward passes, shared by all traces of one network.
public final class BackwardScratch {
    var gradIn = FloatBuffer(count: 0)
    var gradOut = FloatBuffer(count: 0)
    var columns = FloatBuffer(count: 0)
    public init() {}
}

extension Network {
    /// Runs the network on `n` samples read from `input` (channel-major), recording into `trace`.
    /// Returns the output (channel-major), owned by `trace`.
    @discardableResult
    public func forward(_ input: UnsafePointer<Float>, batch n: Int, mode: ForwardMode, trace: Trace,
                        scratch: BackwardScratch) -> UnsafeMutablePointer<Float> {
        trace.prepare(for: self, batch: n, mode: mode)
        trace.activations[0].pointer.update(from: input, count: n * inputShape.count)
        for (i, layer) in layers.enumerated() {
            let x = UnsafePointer(trace.activations[i].pointer), y = trace.activations[i + 1].pointer
            switch layer.spec {
            case .conv2d(let s):
                let g = layer.geometry!
                let col: UnsafeMutablePointer<Float>
                if case .train = mode {
                    col = trace.saved[i].pointer
                } else {
                    scratch.columns.reserve(g.columnRows * n * g.gridSize)
                    col = scratch.columns.pointer
                }
                conv2dForward(x: x, y: y, col: col, weight: param(layer.weight!), bias: param(layer.bias!),
                              outChannels: s.outChannels, geometry: g, batch: n)
            case .convTranspose2d(let s):
                let g = layer.geometry!
                scratch.columns.reserve(g.columnRows * n * g.gridSize)
                convTranspose2dForward(x: x, y: y, colScratch: scratch.columns.pointer, weight: param(layer.weight!),
                                       bias: param(layer.bias!), inChannels: s.inChannels, geometry: g, batch: n)
            case .batchNorm2d(let c):
                let m = n * layer.output.height * layer.output.width
                switch mode {
                case .train(let update):
                    let stats = trace.saved[i].pointer
                    let running = update
                        ? (mean: store.buffers + layer.runningMean!.offset, variance: store.buffers + layer.runningVariance!.offset)
                        : nil
                    BatchNorm.forwardTrain(x: x, y: y, gamma: param(layer.weight!), beta: param(layer.bias!),
                                           mean: stats, invStd: stats + c, running: running, channels: c, perChannel: m)
                    if update { store.counters[layer.counter!] += 1 }
                case .eval:
                    BatchNorm.forwardEval(x: x, y: y, gamma: param(layer.weight!), beta: param(layer.bias!),
                                          runningMean: store.buffers + layer.runningMean!.offset,
                                          runningVariance: store.buffers + layer.runningVariance!.offset,
                                          channels: c, perChannel: m)
                }
            case .activation(let f):
                f.forward(x, y, count: n * layer.output.count)
            }
        }
        return trace.output
    }

    /// Backpropagates `outputGrad` (channel-major, same shape as the trace's output) through the
    /// pass recorded in `trace`, which must be a training-mode pass.
    /// With `parameterGradients`, adds into the store's gradients; with `inputGradient`, returns
    /// the gradient with respect to the input (valid until the next backward on `scratch`).
    @discardableResult
    public func backward(_ outputGrad: UnsafePointer<Float>, trace: Trace, scratch: BackwardScratch,
                         parameterGradients: Bool, inputGradient: Bool) -> UnsafePointer<Float>? {
        guard case .train = trace.mode else { preconditionFailure("backward needs a training-mode trace") }
        let n = trace.batch
        let maxActivation = layers.map { max($0.input.count, $0.output.count) }.max()! * n
        scratch.gradIn.reserve(maxActivation)
        scratch.gradOut.reserve(maxActivation)
        scratch.gradOut.pointer.update(from: outputGrad, count: n * outputShape.count)
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[i]
            let dy = UnsafePointer(scratch.gradOut.pointer)
            let dx: UnsafeMutablePointer<Float>? = (i > 0 || inputGradient) ? scratch.gradIn.pointer : nil
            let x = UnsafePointer(trace.activations[i].pointer), y = UnsafePointer(trace.activations[i + 1].pointer)
            let wg = parameterGradients ? layer.weight.map(grad) : nil
            let bg = parameterGradients ? layer.bias.map(grad) : nil
            switch layer.spec {
            case .conv2d(let s):
                let g = layer.geometry!
                scratch.columns.reserve(g.columnRows * n * g.gridSize)
                conv2dBackward(dy: dy, col: trace.saved[i].pointer, weight: param(layer.weight!), weightGrad: wg, biasGrad: bg,
                               dx: dx, colScratch: scratch.columns.pointer, outChannels: s.outChannels, geometry: g, batch: n)
            case .convTranspose2d(let s):
                let g = layer.geometry!
                scratch.columns.reserve(g.columnRows * n * g.gridSize)
                convTranspose2dBackward(dy: dy, x: x, weight: param(layer.weight!), weightGrad: wg, biasGrad: bg,
                                        dx: dx, colScratch: scratch.columns.pointer, inChannels: s.inChannels,
                                        geometry: g, batch: n)
            case .batchNorm2d(let c):
                let stats = trace.saved[i].pointer
                BatchNorm.backwardTrain(dy: dy, x: x, gamma: param(layer.weight!), mean: stats, invStd: stats + c,
                                        gammaGrad: wg, betaGrad: bg, dx: dx, channels: c,
                                        perChannel: n * layer.output.height * layer.output.width)
            case .activation(let f):
                if let dx { f.backward(dy: dy, y: y, dx: dx, count: n * layer.output.count) }
            }
            if dx == nil { break }
            swap(&scratch.gradIn, &scratch.gradOut)
        }
        return inputGradient ? UnsafePointer(scratch.gradOut.pointer) : nil
    }
}
