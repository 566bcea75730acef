/// Convolutions as im2col/col2im around one `sgemm` per layer.
///
/// Activations are channel-major batches, `[C][N][H][W]` (see `BatchShape`), so a convolution over
/// a whole batch is a single matrix product whose result is already in that layout.

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

    /// Rows of the column matrix: one per (channel, kernel row, kernel column).
    public init(channels: Int, kernel: Int, stride: Int, padding: Int, imageH: Int, imageW: Int, gridH: Int, gridW: Int) {
        self.channels = channels; self.kernel = kernel; self.stride = stride; self.padding = padding
        self.imageH = imageH; self.imageW = imageW; self.gridH = gridH; self.gridW = gridW
    }

    public var columnRows: Int { channels * kernel * kernel }
    public var gridSize: Int { gridH * gridW }
    public var imageSize: Int { imageH * imageW }
}

/// Half-open range of grid columns `o` for which `o*stride + offset` lies in `0..<extent`.
@inline(__always)
private func validRange(offset: Int, stride: Int, extent: Int, count: Int) -> (Int, Int) {
    // o*stride + offset >= 0  ⇔  o >= ceil(-offset / stride)
    let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    // o*stride + offset <= extent - 1  ⇔  o <= floor((extent - 1 - offset) / stride)
    let last = extent - 1 - offset
    let hi = last < 0 ? 0 : last / stride + 1
    return (min(lo, count), max(min(hi, count), min(lo, count)))
}

/// Unfolds a channel-major image batch into columns:
/// `col[(c,ki,kj)][(n,oh,ow)] = image[c][n][oh·s−p+ki][ow·s−p+kj]`, zero outside the image.
public func im2col(_ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>,
                   _ g: ConvGeometry, batch n: Int) {
    let k = g.kernel, s = g.stride, p = g.padding
    let cols = n * g.gridSize
    Parallel.forEach(g.columnRows, costPerItem: cols) { rows in
        for r in rows {
            let c = r / (k * k), ki = (r / k) % k, kj = r % k
            let (lo, hi) = validRange(offset: kj - p, stride: s, extent: g.imageW, count: g.gridW)
            for b in 0..<n {
                let src = image + (c * n + b) * g.imageSize
                for oh in 0..<g.gridH {
                    let dst = col + r * cols + (b * g.gridH + oh) * g.gridW
                    let ih = oh * s - p + ki
                    guard ih >= 0 && ih < g.imageH else {
                        dst.update(repeating: 0, count: g.gridW)
                        continue
                    }
                    let row = src + ih * g.imageW + (kj - p)
                    for ow in 0..<lo { dst[ow] = 0 }
                    if s == 1 {
                        (dst + lo).update(from: row + lo, count: hi - lo)
                    } else {
                        for ow in lo..<hi { dst[ow] = row[ow * s] }
                    }
                    for ow in hi..<g.gridW { dst[ow] = 0 }
                }
            }
        }
    }
}

/// The adjoint of `im2col`: adds every column entry back onto the image position it came from.
/// `image` is accumulated into (zero it first for a plain fold).
public func col2im(_ col: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>,
                   _ g: ConvGeometry, batch n: Int) {
    let k = g.kernel, s = g.stride, p = g.padding
    let cols = n * g.gridSize
    // One channel per task: channels write disjoint parts of the image.
    Parallel.forEach(g.channels, costPerItem: k * k * cols) { channels in
        for c in channels {
            for kk in 0..<(k * k) {
                let r = c * k * k + kk, ki = kk / k, kj = kk % k
                let (lo, hi) = validRange(offset: kj - p, stride: s, extent: g.imageW, count: g.gridW)
                for b in 0..<n {
                    let dstImage = image + (c * n + b) * g.imageSize
                    for oh in 0..<g.gridH {
                        let ih = oh * s - p + ki
                        guard ih >= 0 && ih < g.imageH else { continue }
                        let src = col + r * cols + (b * g.gridH + oh) * g.gridW
                        let row = dstImage + ih * g.imageW + (kj - p)
                        for ow in lo..<hi { row[ow * s] += src[ow] }
                    }
                }
            }
        }
    }
}

/// Adds `bias[c]` to each channel of a channel-major batch (`perChannel` = N·H·W values each).
func addBias(_ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, channels: Int, perChannel: Int) {
    Parallel.forEach(channels, costPerItem: perChannel) { range in
        for c in range {
            let b = bias[c], row = y + c * perChannel
            for i in 0..<perChannel { row[i] += b }
        }
    }
}

/// `biasGrad[c] += Σ dy[c][…]` over a channel-major batch.
func accumulateBiasGrad(_ dy: UnsafePointer<Float>, _ biasGrad: UnsafeMutablePointer<Float>,
                        channels: Int, perChannel: Int) {
    Parallel.forEach(channels, costPerItem: perChannel) { range in
        for c in range {
            let row = dy + c * perChannel
            var sum: Float = 0
            for i in 0..<perChannel { sum += row[i] }
            biasGrad[c] += sum
        }
    }
}

// MARK: - Conv2d (weight [Cout, Cin, k, k], PyTorch's layout)

/// `y = W ⋆ x + b`. `col` receives im2col(x) (kept for the weight gradient).
public func conv2dForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, col: UnsafeMutablePointer<Float>,
                          weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                          outChannels: Int, geometry g: ConvGeometry, batch n: Int) {
    let cols = n * g.gridSize
    im2col(x, col, g, batch: n)
    sgemm(m: outChannels, n: cols, k: g.columnRows, weight, lda: g.columnRows, col, ldb: cols, y, ldc: cols)
    addBias(y, bias, channels: outChannels, perChannel: cols)
}

/// Gradients of `conv2dForward`. `col` is the forward's im2col(x); `colScratch` holds K×(N·P) floats.
/// Parameter gradients are accumulated when `weightGrad` is given; `dx` is written when given.
public func conv2dBackward(dy: UnsafePointer<Float>, col: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                           weightGrad: UnsafeMutablePointer<Float>?, biasGrad: UnsafeMutablePointer<Float>?,
                           dx: UnsafeMutablePointer<Float>?, colScratch: UnsafeMutablePointer<Float>,
                           outChannels: Int, geometry g: ConvGeometry, batch n: Int) {
    let cols = n * g.gridSize
    if let weightGrad, let biasGrad {
        sgemm(transB: true, m: outChannels, n: g.columnRows, k: cols, dy, lda: cols, col, ldb: cols,
              beta: 1, weightGrad, ldc: g.columnRows)
        accumulateBiasGrad(dy, biasGrad, channels: outChannels, perChannel: cols)
    }
    if let dx {
        sgemm(transA: true, m: g.columnRows, n: cols, k: outChannels, weight, lda: g.columnRows, dy, ldb: cols,
              colScratch, ldc: cols)
        dx.update(repeating: 0, count: g.channels * n * g.imageSize)
        col2im(colScratch, dx, g, batch: n)
    }
}

// MARK: - ConvTranspose2d (weight [Cin, Cout, k, k], PyTorch's layout)

/// `y = Wᵀ ⋆ x + b`: the adjoint of a Conv2d with the same geometry (image side = output),
/// plus bias. `colScratch` holds (Cout·k·k)×(N·P) floats.
public func convTranspose2dForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                   colScratch: UnsafeMutablePointer<Float>,
                                   weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                   inChannels: Int, geometry g: ConvGeometry, batch n: Int) {
    let cols = n * g.gridSize
    sgemm(transA: true, m: g.columnRows, n: cols, k: inChannels, weight, lda: g.columnRows, x, ldb: cols,
          colScratch, ldc: cols)
    y.update(repeating: 0, count: g.channels * n * g.imageSize)
    col2im(colScratch, y, g, batch: n)
    addBias(y, bias, channels: g.channels, perChannel: n * g.imageSize)
}

/// Gradients of `convTranspose2dForward`; `x` is the forward's input.
public func convTranspose2dBackward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                    weightGrad: UnsafeMutablePointer<Float>?, biasGrad: UnsafeMutablePointer<Float>?,
                                    dx: UnsafeMutablePointer<Float>?, colScratch: UnsafeMutablePointer<Float>,
                                    inChannels: Int, geometry g: ConvGeometry, batch n: Int) {
    let cols = n * g.gridSize
    im2col(dy, colScratch, g, batch: n)
    if let weightGrad, let biasGrad {
        sgemm(transB: true, m: inChannels, n: g.columnRows, k: cols, x, lda: cols, colScratch, ldb: cols,
              beta: 1, weightGrad, ldc: g.columnRows)
        accumulateBiasGrad(dy, biasGrad, channels: g.channels, perChannel: n * g.imageSize)
    }
    if let dx {
        sgemm(m: inChannels, n: cols, k: g.columnRows, weight, lda: g.columnRows, colScratch, ldb: cols,
              dx, ldc: cols)
    }
}
