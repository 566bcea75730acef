import Basics
import Foundation
import Engine
import XCTest

/// Layer semantics beyond gradients: adjointness, BatchNorm modes and statistics, distances.
final class LayerSemanticsTests: XCTestCase {
    /// ⟨conv(x), y⟩ = ⟨x, convT(y)⟩ with the same weights and no bias.
    func testConvTransposeIsAdjointOfConv() {
        for (k, s, p, size) in [(4, 2, 1, 8), (3, 2, 1, 7), (4, 1, 0, 4), (3, 1, 1, 5)] {
            let cin = 3, cout = 4, n = 2
            let outSize = (size + 2 * p - k) / s + 1
            let g = ConvGeometry(channels: cin, kernel: k, stride: s, padding: p, imageH: size, imageW: size, gridH: outSize, gridW: outSize)
            var rng = RandomSource(seed: UInt64(k * 100 + size))
            let x = rng.normals(cin * n * size * size), y = rng.normals(cout * n * outSize * outSize)
            let w = rng.normals(cout * cin * k * k), zeroBias = [Float](repeating: 0, count: max(cin, cout))
            var convX = [Float](repeating: 0, count: y.count), convTY = [Float](repeating: 0, count: x.count)
            var col = [Float](repeating: 0, count: g.columnRows * n * g.gridSize)
            let all = SampleRange(batch: n)
            conv2dForward(x: x, y: &convX, col: &col, ldCol: n * g.gridSize, weight: w, bias: zeroBias, outChannels: cout,
                          geometry: g, samples: all)
            // A ConvTranspose2d weight is [Cin_T, Cout_T, k, k] = [cout, cin, k, k]: the conv weight as stored.
            convTranspose2dForward(x: y, y: &convTY, colScratch: &col, weight: w, bias: zeroBias, inChannels: cout,
                                   geometry: g, samples: all)
            // Each sample alone gives the same bits as inside the batch.
            var convXPerSample = [Float](repeating: .nan, count: convX.count)
            var convTYPerSample = [Float](repeating: .nan, count: convTY.count)
            for b in 0..<n {
                let one = SampleRange(batch: n, b..<(b + 1))
                conv2dForward(x: x, y: &convXPerSample, col: &col, ldCol: g.gridSize, weight: w, bias: zeroBias,
                              outChannels: cout, geometry: g, samples: one)
                convTranspose2dForward(x: y, y: &convTYPerSample, colScratch: &col, weight: w, bias: zeroBias, inChannels: cout,
                                       geometry: g, samples: one)
            }
            XCTAssertEqual(convXPerSample, convX)
            XCTAssertEqual(convTYPerSample, convTY)
            let lhs = zip(convX, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(x, convTY).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "k\(k) s\(s) p\(p) size \(size)")
            XCTAssertGreaterThan(abs(lhs), 1e-3)
        }
    }


    /// A stride-1 input gradient computed as a correlation with the flipped kernel equals the plain
    /// col2im(Wᵀ·dy) it replaces, to rounding, for every sample range; and the correlation run
    /// directly from dy's rows (AVX2, AVX-512) gives the bits of im2col(dy) and the ordered GEMM
    /// (the scalar kernel's path).
    func testInputGradientByCorrelationMatchesColumnFold() {
        let best = orderedGemmKernel
        defer { useOrderedGemmKernel(best) }
        for (k, p, h, w, cin, cout) in [(3, 1, 7, 5, 3, 4), (3, 0, 6, 6, 5, 2), (1, 0, 4, 3, 6, 7), (5, 2, 9, 8, 2, 3), (3, 2, 4, 4, 2, 2),
                                        (3, 1, 9, 53, 11, 6)] {
            let n = 3, oh = h + 2 * p - k + 1, ow = w + 2 * p - k + 1
            let g = ConvGeometry(channels: cin, kernel: k, stride: 1, padding: p, imageH: h, imageW: w, gridH: oh, gridW: ow)
            var rng = RandomSource(seed: UInt64(k * 1000 + h * 10 + p))
            let dy = rng.normals(cout * n * g.gridSize), weight = rng.normals(cout * cin * k * k)
            var plain = [Float](repeating: .nan, count: cin * n * g.imageSize)
            var scratch = [Float](repeating: 0, count: g.columnRows * n * g.gridSize)
            conv2dInputGradient(dy: dy, weight: weight, dx: &plain, colScratch: &scratch, outChannels: cout, geometry: g,
                                samples: SampleRange(batch: n))
            var flipped = [Float](repeating: 0, count: weight.count)
            flipForInputGradient(weight, &flipped, inChannels: cin, outChannels: cout, kernel: k)
            let a = adjointGeometry(g, outChannels: cout)
            var col = [Float](repeating: 0, count: a.columnRows * n * a.gridSize)
            var results: [[Float]] = []
            for kernel in orderedGemmKernels {
                useOrderedGemmKernel(kernel)
                var byCorrelation = [Float](repeating: .nan, count: plain.count)
                for range in [0..<1, 1..<3] {
                    conv2dInputGradientByCorrelation(dy: dy, flippedWeight: flipped, dx: &byCorrelation, col: &col,
                                                     ldCol: range.count * a.gridSize, inChannels: cin, outChannels: cout,
                                                     geometry: g, samples: SampleRange(batch: n, range))
                }
                results.append(byCorrelation)
            }
            let scale = plain.map(abs).max()!
            XCTAssertGreaterThan(scale, 0.1)
            for (u, v) in zip(plain, results[0]) {
                XCTAssertEqual(u, v, accuracy: 1e-5 * scale, "k\(k) p\(p) \(h)×\(w)")
            }
            for (kernel, result) in zip(orderedGemmKernels, results).dropFirst() {
                XCTAssertEqual(result.map(\.bitPattern), results[0].map(\.bitPattern), "\(kernel) against \(orderedGemmKernels[0]): k\(k) p\(p)")
            }
        }
        let strided = ConvGeometry(channels: 1, kernel: 3, stride: 2, padding: 1, imageH: 4, imageW: 4, gridH: 2, gridW: 2)
        XCTAssertFalse(inputGradientIsACorrelation(strided))
        let same = ConvGeometry(channels: 1, kernel: 3, stride: 1, padding: 1, imageH: 4, imageW: 4, gridH: 4, gridW: 4)
        XCTAssertTrue(inputGradientIsACorrelation(same))
        let shrinking = ConvGeometry(channels: 1, kernel: 4, stride: 1, padding: 0, imageH: 4, imageW: 4, gridH: 1, gridW: 1)
        XCTAssertFalse(inputGradientIsACorrelation(shrinking), "16 times the multiply-adds of the fold")
    }
    /// The tanh activation is the true tanh (in double precision) rounded to float, to within one
    /// ulp, over a sweep of ±12 and its edge cases, and gives the same bits on every instruction set.
    func testTanhIsTheTrueValueRounded() throws {
        let best = orderedGemmKernel
        defer { useOrderedGemmKernel(best) }
        var x: [Float] = [0, -0, 1e-30, -1e-30, .leastNonzeroMagnitude, 0x1p-13, -0x1p-13, 0x1.fffp-14, 9.99, 10, 10.01, 30, -30,
                          .infinity, -.infinity, .greatestFiniteMagnitude]
        var rng = RandomSource(seed: 21)
        for _ in 0..<200_000 { x.append(rng.nextUniform() * 24 - 12) }
        for _ in 0..<50_000 { x.append((rng.nextUniform() * 2 - 1) * Float(pow(10, -8 * Double(rng.nextUniform())))) }
        var results: [[Float]] = []
        for kernel in orderedGemmKernels {
            useOrderedGemmKernel(kernel)
            var y = [Float](repeating: .nan, count: x.count)
            Activation.tanh.forward(x, &y, SampleRange(batch: 1), channels: 0..<1, plane: x.count)
            results.append(y)
        }
        var worst: Float = 0
        for (xi, yi) in zip(x, results[0]) {
            let truth = Float(Foundation.tanh(Double(xi)))
            let ulp = max(truth.magnitude.ulp, Float.leastNormalMagnitude.ulp)
            worst = max(worst, (yi - truth).magnitude / ulp)
            XCTAssertEqual(yi.sign, truth.sign, "tanh(\(xi))")
        }
        print("tanh: largest error \(worst) ulp over \(x.count) values")
        XCTAssertLessThanOrEqual(worst, 1, "largest error in ulps")
        var out: [Float] = [0]
        Activation.tanh.forward([.nan], &out, SampleRange(batch: 1), channels: 0..<1, plane: 1)
        XCTAssertTrue(out[0].isNaN)
        for (kernel, y) in zip(orderedGemmKernels, results).dropFirst() {
            XCTAssertEqual(y.map(\.bitPattern), results[0].map(\.bitPattern), "\(kernel) against \(orderedGemmKernels[0])")
        }
    }

    /// im2col matches the textbook definition, zero padding included.
    func testIm2colMatchesDefinition() {
        let c = 2, n = 2, h = 5, w = 6, k = 3, s = 2, p = 1
        let oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1
        let g = ConvGeometry(channels: c, kernel: k, stride: s, padding: p, imageH: h, imageW: w, gridH: oh, gridW: ow)
        let image = (0..<(c * n * h * w)).map { Float($0) + 1 }
        var col = [Float](repeating: -1, count: g.columnRows * n * oh * ow)
        im2col(image, SampleRange(batch: n), &col, ldCol: n * oh * ow, g)
        for ci in 0..<c { for ki in 0..<k { for kj in 0..<k { for b in 0..<n { for y in 0..<oh { for x in 0..<ow {
            let iy = y * s - p + ki, ix = x * s - p + kj
            let inside = iy >= 0 && iy < h && ix >= 0 && ix < w
            let expected: Float = inside ? image[((ci * n + b) * h + iy) * w + ix] : 0
            let row = (ci * k + ki) * k + kj, column = (b * oh + y) * ow + x
            XCTAssertEqual(col[row * n * oh * ow + column], expected)
        } } } } } }
    }

    func testBatchNormTrainStatisticsAndRunningUpdate() throws {
        let net = try Network(input: SampleShape(channels: 2, height: 1, width: 2), layers: [("bn", .batchNorm2d(channels: 2))])
        let gamma = net.store.parameters, beta = net.store.parameters + 2
        gamma[0] = 2; gamma[1] = 1; beta[0] = 0.5; beta[1] = -1
        // Channel-major [C][N][H][W] with N = 2: channel 0 holds 1, 2, 3, 4; channel 1 holds 10, 10, 10, 14.
        let x: [Float] = [1, 2, 3, 4, 10, 10, 10, 14]
        let trace = Trace(), scratch = Workspace(threads: 1)
        let out = Array(UnsafeBufferPointer(start: net.forward(x, batch: 2, mode: .train(updateRunningStats: true), trace: trace, workspace: scratch), count: 8))
        let mean0: Float = 2.5, var0: Float = 1.25  // biased
        for i in 0..<4 {
            let expected: Float = 2 * (x[i] - mean0) / (var0 + 1e-5).squareRoot() + 0.5
            XCTAssertEqual(out[i], expected, accuracy: 1e-5)
        }
        let rm = net.store.buffers, rv = net.store.buffers + 2
        XCTAssertEqual(rm[0], 0.9 * 0 + 0.1 * 2.5, accuracy: 1e-6)
        XCTAssertEqual(rm[1], 0.1 * 11, accuracy: 1e-6)
        XCTAssertEqual(rv[0], 0.9 * 1 + 0.1 * (5.0 / 3.0), accuracy: 1e-6, "unbiased variance feeds running_var")
        XCTAssertEqual(rv[1], 0.9 * 1 + 0.1 * 4, accuracy: 1e-6)
        XCTAssertEqual(net.store.counters, [1])

        // Eval mode normalises with the running statistics.
        let eval = Array(UnsafeBufferPointer(start: net.forward(x, batch: 2, mode: .eval, trace: trace, workspace: scratch), count: 8))
        XCTAssertEqual(eval[4], 1 * (10 - rm[1]) / (rv[1] + 1e-5).squareRoot() - 1, accuracy: 1e-5)
        // A train pass that does not update leaves the statistics alone.
        let before = Array(UnsafeBufferPointer(start: rm, count: 4))
        net.forward(x, batch: 2, mode: .train(updateRunningStats: false), trace: trace, workspace: scratch)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: rm, count: 4)), before)
        XCTAssertEqual(net.store.counters, [1])
    }

    func testDistancesPerSampleAndGradient() {
        let shape = SampleShape(channels: 2, height: 1, width: 2)
        // Channel-major, batch 2: sample 0 = [1, 2 | 5, 6], sample 1 = [3, 4 | 7, 8].
        let a: [Float] = [1, 2, 3, 4, 5, 6, 7, 8]
        let b: [Float] = [0, 2, 3, 6, 5, 3, 7, 8]
        XCTAssertEqual(Distance.l1.perSample(a, b, batch: 2, shape: shape), [1.0, 0.5])
        XCTAssertEqual(Distance.l2.perSample(a, b, batch: 2, shape: shape), [2.5, 1.0])
        var ga = [Float](repeating: 0, count: 8), gb = [Float](repeating: 0, count: 8)
        Distance.l2.accumulateGradient(a, b, weights: [1, 2], gradA: &ga, gradB: &gb, batch: 2, shape: shape)
        // ∂D/∂a = 2(a−b)/4 per element, times the sample's weight (1 for sample 0, 2 for sample 1).
        let expected: [Float] = [0.5, 0, 0, -2, 0, 1.5, 0, 0]
        XCTAssertEqual(ga, expected)
        XCTAssertEqual(gb, ga.map { -$0 })
        var g1 = [Float](repeating: 0, count: 8)
        Distance.l1.accumulateGradient(a, b, weights: [4, 4], gradA: &g1, gradB: nil, batch: 2, shape: shape)
        XCTAssertEqual(g1, [1, 0, 0, -1, 0, 1, 0, 0])
    }

    func testChannelMajorRoundTrip() {
        let shape = SampleShape(channels: 3, height: 2, width: 2)
        let nchw = (0..<(4 * shape.count)).map(Float.init)
        var cnhw = [Float](repeating: 0, count: nchw.count), back = cnhw
        ChannelMajor.fromSampleMajor(nchw, &cnhw, batch: 4, shape: shape)
        XCTAssertEqual(cnhw[4], nchw[12], "channel 0 of sample 1 follows channel 0 of sample 0")
        ChannelMajor.toSampleMajor(cnhw, &back, batch: 4, shape: shape)
        XCTAssertEqual(back, nchw)
    }
}
