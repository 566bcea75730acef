import CGemm

/// Convolutions as im2col/col2im around one `sgemm` per layer and thread.
///
/// Activations are channel-major batches, `[C][N][H][W]`, so a convolution over a batch is a single
/// matrix product whose result is already in that layout. Every kernel here works on one range of
/// samples of an `n`-sample batch (the slice one thread owns) and is itself single-threaded.

/// Sizes of one convolution, seen from the "image" side (`channels × imageH × imageW`) and the
/// "grid" side (`gridH × gridW` positions the kernel visits). A Conv2d maps image → grid;
/// a ConvTranspose2d maps grid → image with the same geometry.
public struct ConvGeometry: Equatable, Sendable {
    public var channels: Int
    public var kernel: Int
    public var stride: Int
    public var padding: Int
    public var imageH: Int, imageW: Int
    public var gridH: Int, gridW: Int

    public init(channels: Int, kernel: Int, stride: Int, padding: Int, imageH: Int, imageW: Int, gridH: Int, gridW: Int) {
        self.channels = channels; self.kernel = kernel; self.stride = stride; self.padding = padding
        self.imageH = imageH; self.imageW = imageW; self.gridH = gridH; self.gridW = gridW
    }

    /// Rows of the column matrix: one per (channel, kernel row, kernel column).
    public var columnRows: Int { channels * kernel * kernel }
    public var gridSize: Int { gridH * gridW }
    public var imageSize: Int { imageH * imageW }
}

/// Which samples of an `n`-sample channel-major batch a call works on.
public struct SampleRange: Equatable, Sendable {
    public let batch: Int
    public let range: Range<Int>
    public init(batch: Int, _ range: Range<Int>) { self.batch = batch; self.range = range }
    /// All samples.
    public init(batch: Int) { self.init(batch: batch, 0..<batch) }
    public var count: Int { range.count }
    public var first: Int { range.lowerBound }
}

/// Half-open range of grid columns `o` for which `o*stride + offset` lies in `0..<extent`.
@inline(__always)
private func validRange(offset: Int, stride: Int, extent: Int, count: Int) -> (Int, Int) {
    let lo = min(offset >= 0 ? 0 : (-offset + stride - 1) / stride, count)
    let last = extent - 1 - offset
    let hi = last < 0 ? 0 : min(last / stride + 1, count)
    return (lo, max(hi, lo))
}

/// Unfolds the samples `s` of a channel-major image batch into columns:
/// `col[(c,ki,kj)][(b,oh,ow)] = image[c][b][oh·s−p+ki][ow·s−p+kj]`, zero outside the image, where the
/// column of sample `b` starts at `(b − s.first)·gridSize` and rows are `ldCol` apart. With
/// `gridRows`, only those grid rows (`oh`) of each sample, packed the same way.
public func im2col(_ image: UnsafePointer<Float>, _ s: SampleRange, _ col: UnsafeMutablePointer<Float>, ldCol: Int,
                   _ g: ConvGeometry, gridRows: Range<Int>? = nil) {
    let k = g.kernel, stride = g.stride, p = g.padding
    let band = gridRows ?? 0..<g.gridH
    for r in 0..<g.columnRows {
        let c = r / (k * k), ki = (r / k) % k, kj = r % k
        let (lo, hi) = validRange(offset: kj - p, stride: stride, extent: g.imageW, count: g.gridW)
        for b in s.range {
            let src = image + (c * s.batch + b) * g.imageSize
            for oh in band {
                let dst = col + r * ldCol + ((b - s.first) * band.count + oh - band.lowerBound) * g.gridW
                let ih = oh * stride - p + ki
                guard ih >= 0 && ih < g.imageH else {
                    dst.update(repeating: 0, count: g.gridW)
                    continue
                }
                let row = src + ih * g.imageW + (kj - p)
                for ow in 0..<lo { dst[ow] = 0 }
                if stride == 1 {
                    (dst + lo).update(from: row + lo, count: hi - lo)
                } else {
                    for ow in lo..<hi { dst[ow] = row[ow * stride] }
                }
                for ow in hi..<g.gridW { dst[ow] = 0 }
            }
        }
    }
}

/// The adjoint of `im2col`: adds every column entry back onto the image position it came from,
/// for the samples `s` and the image channels `channels` (all when nil). The image is
/// accumulated into (zero it first for a plain fold).
public func col2im(_ col: UnsafePointer<Float>, ldCol: Int, _ image: UnsafeMutablePointer<Float>, _ s: SampleRange,
                   _ g: ConvGeometry, channels: Range<Int>? = nil) {
    let k = g.kernel, stride = g.stride, p = g.padding
    let channels = channels ?? 0..<g.channels
    for r in (channels.lowerBound * k * k)..<(channels.upperBound * k * k) {
        let c = r / (k * k), ki = (r / k) % k, kj = r % k
        let (lo, hi) = validRange(offset: kj - p, stride: stride, extent: g.imageW, count: g.gridW)
        for b in s.range {
            let dstImage = image + (c * s.batch + b) * g.imageSize
            for oh in 0..<g.gridH {
                let ih = oh * stride - p + ki
                guard ih >= 0 && ih < g.imageH else { continue }
                let src = col + r * ldCol + ((b - s.first) * g.gridH + oh) * g.gridW
                let row = dstImage + ih * g.imageW + (kj - p)
                for ow in lo..<hi { row[ow * stride] += src[ow] }
            }
        }
    }
}

/// The values of channel `c` for the samples `s`: one contiguous run in a channel-major batch.
@inline(__always)
func channelRun(_ base: UnsafeMutablePointer<Float>, channel c: Int, _ s: SampleRange, plane: Int) -> UnsafeMutableBufferPointer<Float> {
    UnsafeMutableBufferPointer(start: base + (c * s.batch + s.first) * plane, count: s.count * plane)
}

/// Adds `bias[c]` to channel `c` of the samples `s`, for the channels given.
func addBias(_ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, channels: Range<Int>, _ s: SampleRange, plane: Int) {
    for c in channels {
        let b = bias[c], run = channelRun(y, channel: c, s, plane: plane)
        for i in run.indices { run[i] += b }
    }
}

/// How a forward shares one product among threads: `split(count) { range in … }` runs the body
/// over pieces of `0..<count` (output channels), in parallel or not; ``serial`` runs it once.
public typealias ChannelSplit = (Int, @escaping (Range<Int>) -> Void) -> Void

/// Runs the whole range on the calling thread.
public let serial: ChannelSplit = { count, body in body(0..<count) }

/// `biasGrad[c] += Σ dy[c][samples s]` for the channels given.
func accumulateBiasGrad(_ dy: UnsafePointer<Float>, _ biasGrad: UnsafeMutablePointer<Float>, channels: Range<Int>,
                        _ s: SampleRange, plane: Int) {
    for c in channels {
        let run = channelRun(UnsafeMutablePointer(mutating: dy), channel: c, s, plane: plane)
        var sum: Float = 0
        for v in run { sum += v }
        biasGrad[c] += sum
    }
}

// MARK: - Conv2d (weight [Cout, Cin, k, k], PyTorch's layout)

/// `y = W ⋆ x + b` for the samples `s` (with `gridRows`, only those rows of their output grids:
/// then `s` is one sample). `col` (rows `ldCol` apart) receives im2col(x) of those positions. The
/// product is ``orderedGemm(transA:m:n:k:_:lda:_:ldb:_:ldc:accumulate:)``, so a sample's result is
/// the same in any batch, at any offset, in any band, on any thread, and however `split` shares
/// the output channels out.
public func conv2dForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, col: UnsafeMutablePointer<Float>, ldCol: Int,
                          weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                          outChannels: Int, geometry g: ConvGeometry, samples s: SampleRange, gridRows: Range<Int>? = nil,
                          split: ChannelSplit = serial) {
    guard s.count > 0 else { return }
    let band = gridRows ?? 0..<g.gridH
    precondition(band.count == g.gridH || s.count == 1, "a band of grid rows is of one sample")
    im2col(x, s, col, ldCol: ldCol, g, gridRows: gridRows)
    let ld = s.batch * g.gridSize, out = y + s.first * g.gridSize + band.lowerBound * g.gridW
    let positions = s.count * band.count * g.gridW
    split(outChannels) { channels in
        orderedGemm(m: channels.count, n: positions, k: g.columnRows, weight + channels.lowerBound * g.columnRows,
                    lda: g.columnRows, col, ldb: ldCol, out + channels.lowerBound * ld, ldc: ld)
        for c in channels {
            let b = bias[c], run = out + c * ld
            for i in 0..<positions { run[i] += b }
        }
    }
}

/// Whether ``conv2dForwardDirect(x:y:weight:bias:outChannels:geometry:samples:split:)`` runs for
/// this convolution on this machine (the ordered GEMM's AVX-512 or AVX2 kernel in use, padding
/// below the kernel): with 1 to 4 output channels at stride 1, or with rows of at least 16
/// pixels at stride 1 to 4 (on narrower grids the GEMM's product over many samples' positions at
/// once does better).
public func conv2dDirectApplies(_ g: ConvGeometry, outChannels: Int) -> Bool {
    guard takesFewOutputKernel(g, outChannels: outChannels) else { return g.gridW >= 16 && convRowsRun(g) }
    return g.padding < g.kernel && ign_conv_direct(Int32(outChannels), 1, 1, 0, nil, 0, 1, 1, nil, nil, 0, 0, 0) == 1
}

/// Whether a direct convolution runs through `ign_conv_direct` (1 to 4 outputs, stride 1) rather
/// than `ign_conv_rows`.
private func takesFewOutputKernel(_ g: ConvGeometry, outChannels: Int) -> Bool { outChannels <= 4 && g.stride == 1 }

/// Whether `ign_conv_rows` takes this geometry on this machine.
private func convRowsRun(_ g: ConvGeometry) -> Bool {
    ign_conv_rows(1, 1, Int32(g.kernel), Int32(g.stride), Int32(g.padding), nil, 0, 1, 1, nil, nil, nil, 0, 0, 0) == 1
}

/// `conv2dForward` for a convolution where ``conv2dDirectApplies(_:outChannels:)``, without
/// im2col: the same bits, with `split` sharing each sample's grid rows out instead of output
/// channels. One to four output channels at stride 1 run through `ign_conv_direct` (a few pixel
/// vectors per output channel), others through `ign_conv_rows` (a tile of output channels ×
/// pixels, as the ordered GEMM's).
public func conv2dForwardDirect(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                outChannels: Int, geometry g: ConvGeometry, samples s: SampleRange,
                                split: ChannelSplit = serial) {
    let inStride = s.batch * g.imageSize, outStride = s.batch * g.gridSize
    let m = Int32(outChannels), channels = Int32(g.channels), k = Int32(g.kernel), p = Int32(g.padding)
    let h = Int32(g.imageH), w = Int32(g.imageW), few = takesFewOutputKernel(g, outChannels: outChannels)
    for b in s.range {
        let input = x + b * g.imageSize, output = y + b * g.gridSize
        split(g.gridH) { rows in
            let (top, bottom) = (Int32(rows.lowerBound), Int32(rows.upperBound))
            guard few else {
                let done = ign_conv_rows(m, channels, k, Int32(g.stride), p, input, inStride, h, w, weight, bias, output, outStride,
                                         top, bottom)
                precondition(done == 1, "conv2dForwardDirect called where it does not apply")
                return
            }
            let done = ign_conv_direct(m, channels, k, p, input, inStride, h, w, weight, output, outStride, top, bottom)
            precondition(done == 1, "conv2dForwardDirect called where it does not apply")
            for c in 0..<outChannels {
                let bc = bias[c], run = output + c * outStride
                for i in (rows.lowerBound * g.gridW)..<(rows.upperBound * g.gridW) { run[i] += bc }
            }
        }
    }
}

/// Weight and bias gradients of `conv2dForward` for the samples `s` (with `gridRows`, only those rows
/// of their grids: then `s` is one sample): `dW += dy[s] · colᵀ`, `db += Σ dy[s]`, where `col`
/// (rows `ldCol` apart) is the matching im2col(x).
public func conv2dWeightGradient(dy: UnsafePointer<Float>, col: UnsafePointer<Float>, ldCol: Int,
                                 weightGrad: UnsafeMutablePointer<Float>, biasGrad: UnsafeMutablePointer<Float>,
                                 outChannels: Int, geometry g: ConvGeometry, samples s: SampleRange, gridRows: Range<Int>? = nil) {
    guard s.count > 0, outChannels > 0 else { return }
    let band = gridRows ?? 0..<g.gridH
    precondition(band.count == g.gridH || s.count == 1, "a band of grid rows is of one sample")
    let ld = s.batch * g.gridSize, first = dy + s.first * g.gridSize + band.lowerBound * g.gridW
    let positions = s.count * band.count * g.gridW
    sgemm(transB: true, m: outChannels, n: g.columnRows, k: positions, first, lda: ld, col, ldb: ldCol,
          beta: 1, weightGrad, ldc: g.columnRows)
    for c in 0..<outChannels {
        let run = first + c * ld
        var sum: Float = 0
        for i in 0..<positions { sum += run[i] }
        biasGrad[c] += sum
    }
}

/// Input gradient of `conv2dForward` for the samples `s`: `dx = col2im(Wᵀ·dy)`.
/// `colScratch` holds K×(|s|·P) floats.
public func conv2dInputGradient(dy: UnsafePointer<Float>, weight: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                colScratch: UnsafeMutablePointer<Float>, outChannels: Int, geometry g: ConvGeometry,
                                samples s: SampleRange) {
    guard s.count > 0 else { return }
    let ld = s.batch * g.gridSize, cols = s.count * g.gridSize
    sgemm(transA: true, m: g.columnRows, n: cols, k: outChannels, weight, lda: g.columnRows, dy + s.first * g.gridSize, ldb: ld,
          colScratch, ldc: cols)
    for c in 0..<g.channels { channelRun(dx, channel: c, s, plane: g.imageSize).update(repeating: 0) }
    col2im(colScratch, ldCol: cols, dx, s, g)
}

/// Whether ``conv2dInputGradientByCorrelation(dy:flippedWeight:dx:col:ldCol:inChannels:outChannels:geometry:samples:)``
/// applies and pays: stride 1, padding below the kernel size, and a grid at least as large as
/// the image (the correlation does `Cin·Cout·k²` multiply-adds per *input* position, the fold per
/// output position: a 4×4 → 1×1 layer would do 16 times the work, mostly on padding).
public func inputGradientIsACorrelation(_ g: ConvGeometry) -> Bool {
    g.stride == 1 && g.padding < g.kernel && g.imageSize <= g.gridSize
}

/// The geometry of a stride-1 convolution's adjoint seen as a convolution itself: dy
/// (`outChannels × grid`) is the image, padded `k−1−p`, and the grid is the input's size.
public func adjointGeometry(_ g: ConvGeometry, outChannels: Int) -> ConvGeometry {
    ConvGeometry(channels: outChannels, kernel: g.kernel, stride: 1, padding: g.kernel - 1 - g.padding,
                 imageH: g.gridH, imageW: g.gridW, gridH: g.imageH, gridW: g.imageW)
}

/// `flipped[ci][co][k−1−i][k−1−j] = weight[co][ci][i][j]`: the kernel of a stride-1 convolution's
/// adjoint (turned 180°, channel axes swapped), `[Cin, Cout, k, k]`.
public func flipForInputGradient(_ weight: UnsafePointer<Float>, _ flipped: UnsafeMutablePointer<Float>,
                                 inChannels: Int, outChannels: Int, kernel k: Int) {
    let taps = k * k
    for co in 0..<outChannels {
        for ci in 0..<inChannels {
            let src = weight + (co * inChannels + ci) * taps, dst = flipped + (ci * outChannels + co) * taps
            for t in 0..<taps { dst[taps - 1 - t] = src[t] }
        }
    }
}

/// Input gradient of a stride-1 `conv2dForward` for the samples `s`, computed as the correlation
/// of dy with the flipped kernel (``flipForInputGradient(_:_:inChannels:outChannels:kernel:)``):
/// `dx = flipped · im2col(dy)`. It does the same multiply-adds as
/// ``conv2dInputGradient(dy:weight:dx:colScratch:outChannels:geometry:samples:)`` but unfolds
/// `Cout·k²` rows of dy instead of folding `Cin·k²` rows back, and its product has the long
/// inner dimension. `col` (rows `ldCol` apart) receives im2col(dy), unless the correlation runs
/// directly from dy's rows (`ign_conv_rows`, on rows of at least 16 pixels: the same bits).
public func conv2dInputGradientByCorrelation(dy: UnsafePointer<Float>, flippedWeight: UnsafePointer<Float>,
                                             dx: UnsafeMutablePointer<Float>, col: UnsafeMutablePointer<Float>, ldCol: Int,
                                             inChannels: Int, outChannels: Int, geometry g: ConvGeometry, samples s: SampleRange) {
    guard s.count > 0 else { return }
    let h = adjointGeometry(g, outChannels: outChannels)
    if h.gridW >= 16 && convRowsRun(h) {
        for b in s.range {
            let done = ign_conv_rows(Int32(inChannels), Int32(outChannels), Int32(h.kernel), 1, Int32(h.padding), dy + b * h.imageSize,
                                     s.batch * h.imageSize, Int32(h.imageH), Int32(h.imageW), flippedWeight, nil,
                                     dx + b * h.gridSize, s.batch * h.gridSize, 0, Int32(h.gridH))
            precondition(done == 1, "the direct correlation applies")
        }
        return
    }
    im2col(dy, s, col, ldCol: ldCol, h)
    orderedGemm(m: inChannels, n: s.count * h.gridSize, k: h.columnRows, flippedWeight, lda: h.columnRows, col, ldb: ldCol,
                dx + s.first * h.gridSize, ldc: s.batch * h.gridSize)
}

// MARK: - ConvTranspose2d (weight [Cin, Cout, k, k], PyTorch's layout)

/// `y = Wᵀ ⋆ x + b` for the samples `s`: the adjoint of a Conv2d with the same geometry
/// (image side = output), plus bias. `colScratch` holds (Cout·k·k)×(|s|·P) floats. The product
/// is ordered and `split` shares the output channels out, as in
/// ``conv2dForward(x:y:col:ldCol:weight:bias:outChannels:geometry:samples:gridRows:split:)``.
public func convTranspose2dForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                   colScratch: UnsafeMutablePointer<Float>,
                                   weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                   inChannels: Int, geometry g: ConvGeometry, samples s: SampleRange,
                                   split: ChannelSplit = serial) {
    guard s.count > 0 else { return }
    let cols = s.count * g.gridSize, taps = g.kernel * g.kernel
    split(g.channels) { channels in
        for c in channels { channelRun(y, channel: c, s, plane: g.imageSize).update(repeating: 0) }
        let rows = (channels.lowerBound * taps)..<(channels.upperBound * taps)
        orderedGemm(transA: true, m: rows.count, n: cols, k: inChannels, weight + rows.lowerBound, lda: g.columnRows,
                    x + s.first * g.gridSize, ldb: s.batch * g.gridSize, colScratch + rows.lowerBound * cols, ldc: cols)
        col2im(colScratch, ldCol: cols, y, s, g, channels: channels)
        addBias(y, bias, channels: channels, s, plane: g.imageSize)
    }
}

/// Weight gradient of `convTranspose2dForward` for the input channels `rows` and bias gradient for the
/// output channels `biasChannels`, over the whole batch: `dW[rows] += x[rows] · dcolᵀ` where
/// `dcol = im2col(dy)` for all samples (rows `n·P` apart).
public func convTranspose2dWeightGradient(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dcol: UnsafePointer<Float>,
                                          weightGrad: UnsafeMutablePointer<Float>, biasGrad: UnsafeMutablePointer<Float>,
                                          rows: Range<Int>, biasChannels: Range<Int>, geometry g: ConvGeometry, batch n: Int) {
    let ld = n * g.gridSize
    if !rows.isEmpty {
        sgemm(transB: true, m: rows.count, n: g.columnRows, k: ld, x + rows.lowerBound * ld, lda: ld, dcol, ldb: ld,
              beta: 1, weightGrad + rows.lowerBound * g.columnRows, ldc: g.columnRows)
    }
    accumulateBiasGrad(dy, biasGrad, channels: biasChannels, SampleRange(batch: n), plane: g.imageSize)
}

/// Input gradient of `convTranspose2dForward` for the samples `s`: `dx = W·dcol`, with `dcol` the
/// full-batch im2col(dy) (rows `n·P` apart).
public func convTranspose2dInputGradient(dcol: UnsafePointer<Float>, weight: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                         inChannels: Int, geometry g: ConvGeometry, samples s: SampleRange) {
    guard s.count > 0 else { return }
    let ld = s.batch * g.gridSize, offset = s.first * g.gridSize
    sgemm(m: inChannels, n: s.count * g.gridSize, k: g.columnRows, weight, lda: g.columnRows, dcol + offset, ldb: ld,
          dx + offset, ldc: ld)
}
