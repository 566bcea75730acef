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
/// Forward: directly from the input rows where that applies (see
/// ``conv2dForwardDirect(x:y:weight:bias:outChannels:geometry:samples:split:)``); otherwise
/// im2col of the worker's samples in cache-sized pieces (whole samples, or bands of grid
/// rows of a large one), one ordered GEMM per piece (see
/// ``conv2dForward(x:y:col:ldCol:weight:bias:outChannels:geometry:samples:gridRows:split:)``). Backward rebuilds
/// im2col of the input for the weight gradient rather than keeping it from the forward (see
/// ``sumsPartials(_:batch:workers:)`` for how the workers share it); a stride-1 input gradient is
/// the correlation of dy with the flipped kernel, other strides fold Wᵀ·dy back with col2im.
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

    /// Columns of the largest forward piece; for the backward, also those of a chunk of the folded
    /// input gradient (whole samples) or, for a stride-1 input gradient, the flipped kernel and dy's columns.
    public func workerScratch(_ inputs: [SampleShape], _ output: SampleShape, samples: Int, backward: Bool) -> Int {
        let g = geometry(inputs[0], output)
        let forward = columnPieceSize(samples: samples, columnsPerPosition: g.columnRows, g)
        guard backward else { return forward }
        guard inputGradientIsACorrelation(g) else {
            return max(forward, g.columnRows * g.gridSize * columnChunk(samples: samples, columnsPerSample: g.columnRows * g.gridSize))
        }
        let h = adjointGeometry(g, outChannels: spec.outChannels)
        let adjoint = h.columnRows * h.gridSize * columnChunk(samples: samples, columnsPerSample: h.columnRows * h.gridSize)
        return max(forward, flippedWeightCount + adjoint)
    }

    private var flippedWeightCount: Int { spec.inChannels * spec.outChannels * spec.kernel * spec.kernel }

    /// Each worker's partial weight and bias gradients, or the whole batch's im2col(x).
    public func sharedScratch(_ inputs: [SampleShape], _ output: SampleShape, batch: Int, workers: Int) -> Int {
        let g = geometry(inputs[0], output)
        return sumsPartials(g, batch: batch, workers: workers) ? workers * partialGradientCount : g.columnRows * g.gridSize * batch
    }

    /// How the workers share a weight gradient: each sums its own samples into a partial, the
    /// partials added up after (when the batch has many more positions than the layer has output
    /// channels), or each takes output channels of one product over the whole batch's columns
    /// (few positions and wide weights, as at a 1×1 latent). Either way the smaller scratch.
    func sumsPartials(_ g: ConvGeometry, batch: Int, workers: Int) -> Bool {
        workers * spec.outChannels < batch * g.gridSize
    }

    private var partialGradientCount: Int { spec.outChannels * (spec.inChannels * spec.kernel * spec.kernel + 1) }

    public func forward(_ call: LayerCall) {
        let g = geometry(call.inputShape, call.outputShape)
        if conv2dDirectApplies(g, outChannels: spec.outChannels) {
            conv2dForwardDirect(x: call.input, y: call.output, weight: call.parameter(weight), bias: call.parameter(bias),
                                outChannels: spec.outChannels, geometry: g, samples: call.samples, split: call.channelSplit)
            return
        }
        for piece in columnPieces(call.samples, columnsPerPosition: g.columnRows, g) {
            conv2dForward(x: call.input, y: call.output, col: call.scratch, ldCol: piece.positions,
                          weight: call.parameter(weight), bias: call.parameter(bias), outChannels: spec.outChannels,
                          geometry: g, samples: piece.samples, gridRows: piece.gridRows, split: call.channelSplit)
        }
    }

    public func backward(_ call: LayerCall, _ gradient: LayerGradient) {
        let g = geometry(call.inputShape, call.outputShape), n = call.batch
        if gradient.parameters && !sumsPartials(g, batch: n, workers: call.workers) {
            im2col(call.input, call.samples, call.shared + call.samples.first * g.gridSize, ldCol: n * g.gridSize, g)
            call.barrier()
            let rows = call.share(spec.outChannels)
            conv2dWeightGradient(dy: gradient.output + rows.lowerBound * n * g.gridSize, col: call.shared, ldCol: n * g.gridSize,
                                 weightGrad: call.gradient(weight) + rows.lowerBound * g.columnRows,
                                 biasGrad: call.gradient(bias) + rows.lowerBound, outChannels: rows.count, geometry: g,
                                 samples: SampleRange(batch: n))
        } else if gradient.parameters {
            // Each worker sums its own samples' share into its partial, a cache-sized piece at a
            // time; then each adds its part of every worker's partials, in worker order.
            let weights = spec.outChannels * g.columnRows, partial = call.shared + call.worker * partialGradientCount
            partial.update(repeating: 0, count: partialGradientCount)
            for piece in columnPieces(call.samples, columnsPerPosition: g.columnRows, g) {
                im2col(call.input, piece.samples, call.scratch, ldCol: piece.positions, g, gridRows: piece.gridRows)
                conv2dWeightGradient(dy: gradient.output, col: call.scratch, ldCol: piece.positions, weightGrad: partial,
                                     biasGrad: partial + weights, outChannels: spec.outChannels, geometry: g,
                                     samples: piece.samples, gridRows: piece.gridRows)
            }
            call.barrier()
            let weightGrad = call.gradient(weight), biasGrad = call.gradient(bias)
            for v in 0..<call.workers {
                let from = call.shared + v * partialGradientCount
                for i in call.share(weights) { weightGrad[i] += from[i] }
                for c in call.share(spec.outChannels) { biasGrad[c] += from[weights + c] }
            }
        }
        guard let dx = gradient.inputs[0] else { return }
        if inputGradientIsACorrelation(g) {
            let h = adjointGeometry(g, outChannels: spec.outChannels), flipped = call.scratch
            flipForInputGradient(call.parameter(weight), flipped, inChannels: spec.inChannels, outChannels: spec.outChannels,
                                 kernel: spec.kernel)
            for chunk in columnChunks(call.samples, columnsPerSample: h.columnRows * h.gridSize) {
                conv2dInputGradientByCorrelation(dy: gradient.output, flippedWeight: flipped, dx: dx,
                                                 col: call.scratch + flippedWeightCount, ldCol: chunk.count * h.gridSize,
                                                 inChannels: spec.inChannels, outChannels: spec.outChannels, geometry: g,
                                                 samples: chunk)
            }
        } else {
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
    public func workerScratch(_ inputs: [SampleShape], _ output: SampleShape, samples: Int, backward: Bool) -> Int {
        let g = geometry(inputs[0], output)
        return g.columnRows * g.gridSize * columnChunk(samples: samples, columnsPerSample: g.columnRows * g.gridSize)
    }

    public func sharedScratch(_ inputs: [SampleShape], _ output: SampleShape, batch: Int, workers: Int) -> Int {
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

/// A piece of a column matrix: whole samples, or a band of one sample's grid rows.
struct ColumnPiece {
    let samples: SampleRange
    let gridRows: Range<Int>
    /// Columns: grid positions covered.
    let positions: Int
}

/// Floats of the largest of ``columnPieces(_:columnsPerPosition:_:)``'s column matrices for `samples` samples.
func columnPieceSize(samples: Int, columnsPerPosition rows: Int, _ g: ConvGeometry) -> Int {
    let perSample = rows * g.gridSize
    if perSample <= columnBudget { return perSample * columnChunk(samples: samples, columnsPerSample: perSample) }
    return rows * g.gridW * min(g.gridH, bandHeight(columnsPerPosition: rows, g))
}

/// Grid rows per band when one sample's columns (`columnsPerPosition` rows) exceed `columnBudget`.
private func bandHeight(columnsPerPosition rows: Int, _ g: ConvGeometry) -> Int {
    max(1, columnBudget / (rows * g.gridW))
}

/// `s` cut into consecutive pieces whose column matrices (`columnsPerPosition` rows) fit
/// `columnBudget`: several whole samples, or bands of grid rows when one sample's are too many.
func columnPieces(_ s: SampleRange, columnsPerPosition rows: Int, _ g: ConvGeometry) -> [ColumnPiece] {
    let perSample = rows * g.gridSize
    if perSample <= columnBudget {
        return columnChunks(s, columnsPerSample: perSample).map {
            ColumnPiece(samples: $0, gridRows: 0..<g.gridH, positions: $0.count * g.gridSize)
        }
    }
    let band = bandHeight(columnsPerPosition: rows, g)
    return s.range.flatMap { b in
        stride(from: 0, to: g.gridH, by: band).map { top in
            let rows = top..<min(top + band, g.gridH)
            return ColumnPiece(samples: SampleRange(batch: s.batch, b..<(b + 1)), gridRows: rows, positions: rows.count * g.gridW)
        }
    }
}
