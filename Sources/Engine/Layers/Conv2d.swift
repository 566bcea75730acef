/// Convolution hyper-parameters (all convolutions here are square and have a bias).
public struct ConvSpec: Equatable, Sendable {
    public var inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int, padding: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }
}

/// `nn.Conv2d`: cross-correlation with zero padding; weight `[Cout, Cin, k, k]`, bias `[Cout]`.
///
/// Forward: im2col of the worker's samples in cache-sized chunks, one ordered GEMM per chunk (see
/// ``conv2dForward(x:y:col:ldCol:weight:bias:outChannels:geometry:samples:split:)``). Backward rebuilds
/// im2col of the input for the weight gradient rather than keeping it from the forward: a piece
/// of the batch at a time, in shared scratch small enough to stay in cache, the workers unfolding
/// its samples together and then each adding its output channels' share over them.
public final class Conv2d: Layer {
    public let spec: ConvSpec
    public private(set) var weight: ParameterStore.View!, bias: ParameterStore.View!

    public init(_ spec: ConvSpec) { self.spec = spec }

    public func register(_ name: String, in layout: inout ParameterStore.Layout) {
        weight = layout.addParameter("\(name).weight", shape: [spec.outChannels, spec.inChannels, spec.kernel, spec.kernel])
        bias = layout.addParameter("\(name).bias", shape: [spec.outChannels])
    }

    public var initialization: [ParameterInit] {
        [.init(view: weight, mean: 0, std: 0.02, fanIn: spec.inChannels * spec.kernel * spec.kernel), .init(view: bias, mean: 0, std: 0)]
    }

    public func outputShape(_ inputs: [SampleShape]) throws -> SampleShape {
        let x = inputs[0]
        guard x.channels == spec.inChannels else { throw ShapeError("expects \(spec.inChannels) channels, gets \(x)") }
        let h = (x.height + 2 * spec.padding - spec.kernel) / spec.stride + 1
        let w = (x.width + 2 * spec.padding - spec.kernel) / spec.stride + 1
        guard x.height + 2 * spec.padding >= spec.kernel, x.width + 2 * spec.padding >= spec.kernel, h > 0, w > 0 else {
            throw ShapeError("input \(x) too small for kernel \(spec.kernel)")
        }
        return SampleShape(channels: spec.outChannels, height: h, width: w)
    }

    func geometry(_ x: SampleShape, _ y: SampleShape) -> ConvGeometry {
        ConvGeometry(channels: spec.inChannels, kernel: spec.kernel, stride: spec.stride, padding: spec.padding,
                     imageH: x.height, imageW: x.width, gridH: y.height, gridW: y.width)
    }

    public func multiplyAdds(_ inputs: [SampleShape], _ output: SampleShape) -> Int {
        let g = geometry(inputs[0], output)
        return g.gridSize * spec.outChannels * g.columnRows
    }

    /// Columns of a chunk.
    public func workerScratch(_ inputs: [SampleShape], _ output: SampleShape, samples: Int) -> Int {
        let g = geometry(inputs[0], output)
        return g.columnRows * g.gridSize * columnChunk(samples: samples, columnsPerSample: g.columnRows * g.gridSize)
    }

    public func sharedScratch(_ inputs: [SampleShape], _ output: SampleShape, batch: Int) -> Int {
        let g = geometry(inputs[0], output)
        return g.columnRows * g.gridSize * weightGradientPiece(batch: batch, g)
    }

    /// Samples per piece of the weight gradient's im2col: as many as fit `sharedColumnBudget`.
    func weightGradientPiece(batch: Int, _ g: ConvGeometry) -> Int {
        min(batch, max(1, sharedColumnBudget / (g.columnRows * g.gridSize)))
    }

    public func forward(_ call: LayerCall) {
        let g = geometry(call.inputShape, call.outputShape)
        for chunk in columnChunks(call.samples, columnsPerSample: g.columnRows * g.gridSize) {
            conv2dForward(x: call.input, y: call.output, col: call.scratch, ldCol: chunk.count * g.gridSize,
                          weight: call.parameter(weight), bias: call.parameter(bias), outChannels: spec.outChannels,
                          geometry: g, samples: chunk, split: call.channelSplit)
        }
    }

    public func backward(_ call: LayerCall, _ gradient: LayerGradient) {
        let g = geometry(call.inputShape, call.outputShape), n = call.batch
        if gradient.parameters {
            let size = weightGradientPiece(batch: n, g), rows = call.share(spec.outChannels)
            for start in stride(from: 0, to: n, by: size) {
                let piece = SampleRange(batch: n, start..<min(start + size, n)), ld = piece.count * g.gridSize
                let mine = (piece.first + piece.count * call.worker / call.workers)..<(piece.first + piece.count * (call.worker + 1) / call.workers)
                im2col(call.input, SampleRange(batch: n, mine), call.shared + (mine.lowerBound - piece.first) * g.gridSize, ldCol: ld, g)
                call.barrier()
                conv2dWeightGradient(dy: gradient.output, col: call.shared, ldCol: ld, weightGrad: call.gradient(weight),
                                     biasGrad: call.gradient(bias), rows: rows, geometry: g, samples: piece)
                // The next piece overwrites the columns every worker is reading.
                call.barrier()
            }
        }
        if let dx = gradient.inputs[0] {
            for chunk in columnChunks(call.samples, columnsPerSample: g.columnRows * g.gridSize) {
                conv2dInputGradient(dy: gradient.output, weight: call.parameter(weight), dx: dx, colScratch: call.scratch,
                                    outChannels: spec.outChannels, geometry: g, samples: chunk)
            }
        }
    }
}

/// `nn.ConvTranspose2d`: the adjoint of a Conv2d with the same geometry, plus bias;
/// weight `[Cin, Cout, k, k]`, bias `[Cout]`.
public final class ConvTranspose2d: Layer {
    public let spec: ConvSpec
    public private(set) var weight: ParameterStore.View!, bias: ParameterStore.View!

    public init(_ spec: ConvSpec) { self.spec = spec }

    public func register(_ name: String, in layout: inout ParameterStore.Layout) {
        weight = layout.addParameter("\(name).weight", shape: [spec.inChannels, spec.outChannels, spec.kernel, spec.kernel])
        bias = layout.addParameter("\(name).bias", shape: [spec.outChannels])
    }

    public var initialization: [ParameterInit] {
        // PyTorch's fan-in of a ConvTranspose2d weight [Cin, Cout, k, k]: Cout·k·k.
        [.init(view: weight, mean: 0, std: 0.02, fanIn: spec.outChannels * spec.kernel * spec.kernel), .init(view: bias, mean: 0, std: 0)]
    }

    public func outputShape(_ inputs: [SampleShape]) throws -> SampleShape {
        let x = inputs[0]
        guard x.channels == spec.inChannels else { throw ShapeError("expects \(spec.inChannels) channels, gets \(x)") }
        let h = (x.height - 1) * spec.stride - 2 * spec.padding + spec.kernel
        let w = (x.width - 1) * spec.stride - 2 * spec.padding + spec.kernel
        guard h > 0, w > 0 else { throw ShapeError("input \(x) too small for kernel \(spec.kernel)") }
        return SampleShape(channels: spec.outChannels, height: h, width: w)
    }

    /// The image side is the output, the grid side the input.
    func geometry(_ x: SampleShape, _ y: SampleShape) -> ConvGeometry {
        ConvGeometry(channels: spec.outChannels, kernel: spec.kernel, stride: spec.stride, padding: spec.padding,
                     imageH: y.height, imageW: y.width, gridH: x.height, gridW: x.width)
    }

    public func multiplyAdds(_ inputs: [SampleShape], _ output: SampleShape) -> Int {
        let g = geometry(inputs[0], output)
        return g.gridSize * spec.inChannels * g.columnRows
    }

    /// Columns of a chunk.
    public func workerScratch(_ inputs: [SampleShape], _ output: SampleShape, samples: Int) -> Int {
        let g = geometry(inputs[0], output)
        return g.columnRows * g.gridSize * columnChunk(samples: samples, columnsPerSample: g.columnRows * g.gridSize)
    }

    public func sharedScratch(_ inputs: [SampleShape], _ output: SampleShape, batch: Int) -> Int {
        let g = geometry(inputs[0], output)
        // The whole batch's im2col(dy): the weight gradient reads all of it, the input gradient its own samples'.
        return g.columnRows * g.gridSize * batch
    }

    public func forward(_ call: LayerCall) {
        let g = geometry(call.inputShape, call.outputShape)
        for chunk in columnChunks(call.samples, columnsPerSample: g.columnRows * g.gridSize) {
            convTranspose2dForward(x: call.input, y: call.output, colScratch: call.scratch, weight: call.parameter(weight),
                                   bias: call.parameter(bias), inChannels: spec.inChannels, geometry: g, samples: chunk,
                                   split: call.channelSplit)
        }
    }

    public func backward(_ call: LayerCall, _ gradient: LayerGradient) {
        let g = geometry(call.inputShape, call.outputShape), n = call.batch, dcol = call.shared
        im2col(gradient.output, call.samples, dcol + call.samples.first * g.gridSize, ldCol: n * g.gridSize, g)
        call.barrier()
        if gradient.parameters {
            convTranspose2dWeightGradient(dy: gradient.output, x: call.input, dcol: dcol, weightGrad: call.gradient(weight),
                                          biasGrad: call.gradient(bias), rows: call.share(spec.inChannels),
                                          biasChannels: call.share(spec.outChannels), geometry: g, batch: n)
        }
        if let dx = gradient.inputs[0] {
            convTranspose2dInputGradient(dcol: dcol, weight: call.parameter(weight), dx: dx, inChannels: spec.inChannels,
                                         geometry: g, samples: call.samples)
        }
    }
}

/// Column matrices up to this many floats stay in cache between im2col and the GEMM that reads them.
let columnBudget = 1 << 19
/// The same for the whole-batch columns of a weight gradient, which every worker reads.
let sharedColumnBudget = 1 << 20

/// Samples per chunk when `columnsPerSample` floats of columns each must fit `columnBudget`.
func columnChunk(samples: Int, columnsPerSample: Int) -> Int {
    min(max(samples, 1), max(1, columnBudget / max(columnsPerSample, 1)))
}

/// `s` cut into consecutive pieces whose column matrices fit `columnBudget`.
func columnChunks(_ s: SampleRange, columnsPerSample: Int) -> [SampleRange] {
    let size = columnChunk(samples: s.count, columnsPerSample: columnsPerSample)
    return stride(from: s.range.lowerBound, to: s.range.upperBound, by: size).map {
        SampleRange(batch: s.batch, $0..<min($0 + size, s.range.upperBound))
    }
}
