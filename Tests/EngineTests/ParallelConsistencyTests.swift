import Basics
import Engine
import XCTest

/// Splitting a batch across threads must not change what a pass computes: eval-mode outputs are
/// identical, train-mode statistics and gradients agree to rounding.
final class ParallelConsistencyTests: XCTestCase {
    func makeNetwork() throws -> Network {
        let net = try Network(input: SampleShape(channels: 2, height: 8, width: 8), layers: [
            ("a", .conv2d(ConvSpec(2, 6, kernel: 4, stride: 2, padding: 1))), ("b", .batchNorm2d(channels: 6)),
            ("c", .activation(.leakyReLU(slope: 0.2))), ("d", .conv2d(ConvSpec(6, 8, kernel: 4, stride: 1, padding: 0))),
            ("e", .convTranspose2d(ConvSpec(8, 4, kernel: 4, stride: 1, padding: 0))), ("f", .batchNorm2d(channels: 4)),
            ("g", .activation(.relu)), ("h", .convTranspose2d(ConvSpec(4, 2, kernel: 4, stride: 2, padding: 1))),
            ("i", .activation(.tanh)),
        ])
        var rng = RandomSource(seed: 3)
        rng.fillNormal(net.store.parameters, count: net.store.count, std: 0.3)
        return net
    }

    /// Skip connections, GroupNorm and upsampling, with a BatchNorm between them.
    func makeSkipNetwork() throws -> Network {
        let net = try Network(input: SampleShape(channels: 2, height: 8, width: 8), layers: [
            ("a", .conv2d(ConvSpec(2, 4, kernel: 3, stride: 1, padding: 1))), ("b", .groupNorm(groups: 2, channels: 4)),
            ("c", .activation(.leakyReLU(slope: 0.2))), ("d", .conv2d(ConvSpec(4, 6, kernel: 4, stride: 2, padding: 1))),
            ("e", .batchNorm2d(channels: 6)), ("f", .activation(.relu)), ("g", .upsample(factor: 2)),
            ("h", .concat("c")), ("i", .conv2d(ConvSpec(10, 2, kernel: 3, stride: 1, padding: 1))), ("j", .add("input")),
        ])
        var rng = RandomSource(seed: 5)
        rng.fillNormal(net.store.parameters, count: net.store.count, std: 0.3)
        return net
    }

    struct Result { var eval: [Float]; var train: [Float]; var inputGrad: [Float]; var paramGrad: [Float]; var running: [Float] }

    func run(_ net: Network, threads: Int, batch n: Int, input: [Float], probe: [Float]) -> Result {
        net.resetBatchNormState()
        let workspace = Workspace(threads: threads), trace = Trace()
        let outCount = n * net.outputShape.count
        let eval = Array(UnsafeBufferPointer(start: net.forward(input, batch: n, mode: .eval, trace: trace, workspace: workspace), count: outCount))
        let train = Array(UnsafeBufferPointer(start: net.forward(input, batch: n, mode: .train(updateRunningStats: true), trace: trace, workspace: workspace), count: outCount))
        net.store.zeroGradients()
        let dx = net.backward(probe, trace: trace, workspace: workspace, parameterGradients: true, inputGradient: true)!
        return Result(eval: eval, train: train, inputGrad: Array(UnsafeBufferPointer(start: dx, count: input.count)),
                      paramGrad: Array(UnsafeBufferPointer(start: net.store.gradients, count: net.store.count)),
                      running: Array(UnsafeBufferPointer(start: net.store.buffers, count: net.store.bufferCount)))
    }

    func testThreadCountsAgree() throws {
        try threadCountsAgree(try makeNetwork())
    }

    func testThreadCountsAgreeWithSkipConnections() throws {
        try threadCountsAgree(try makeSkipNetwork())
    }

    func threadCountsAgree(_ net: Network) throws {
        let n = 7
        var rng = RandomSource(seed: 4)
        let input = rng.normals(n * net.inputShape.count), probe = rng.normals(n * net.outputShape.count)
        let one = run(net, threads: 1, batch: n, input: input, probe: probe)
        for threads in [2, 3, 8] {
            let many = run(net, threads: threads, batch: n, input: input, probe: probe)
            XCTAssertEqual(many.eval, one.eval, "eval mode is per sample: identical for \(threads) threads")
            func close(_ a: [Float], _ b: [Float], _ what: String) {
                let scale = b.map(abs).max()!
                XCTAssertGreaterThan(scale, 1e-3, what)
                XCTAssertLessThan(zip(a, b).map { abs($0 - $1) }.max()! / scale, 1e-5, "\(what), \(threads) threads")
            }
            close(many.train, one.train, "train-mode output")
            close(many.inputGrad, one.inputGrad, "input gradient")
            close(many.paramGrad, one.paramGrad, "parameter gradients")
            close(many.running, one.running, "running statistics")
        }
    }

    /// A batch of one runs on one worker (its products shared among the threads): after passes
    /// that used every worker on the same workspace, it neither waits for absent workers nor
    /// computes anything different from one thread. Eval and train outputs are identical.
    func testABatchOfOneAfterAWholeBatchOnTheSameWorkspace() throws {
        for net in [try makeNetwork(), try makeSkipNetwork()] {
            var rng = RandomSource(seed: 6)
            let big = rng.normals(5 * net.inputShape.count), single = rng.normals(net.inputShape.count)
            let probe = rng.normals(net.outputShape.count)
            let workspace = Workspace(threads: 2), trace = Trace()
            net.forward(big, batch: 5, mode: .train(updateRunningStats: false), trace: trace, workspace: workspace)
            net.backward(rng.normals(5 * net.outputShape.count), trace: trace, workspace: workspace, parameterGradients: false,
                         inputGradient: true)
            let eval = Array(UnsafeBufferPointer(start: net.forward(single, batch: 1, mode: .eval, trace: trace, workspace: workspace),
                                                 count: net.outputShape.count))
            let train = Array(UnsafeBufferPointer(start: net.forward(single, batch: 1, mode: .train(updateRunningStats: false),
                                                                     trace: trace, workspace: workspace), count: net.outputShape.count))
            let dx = Array(UnsafeBufferPointer(start: net.backward(probe, trace: trace, workspace: workspace, parameterGradients: false,
                                                                   inputGradient: true)!, count: single.count))
            let alone = Workspace(threads: 1), aloneTrace = Trace()
            XCTAssertEqual(eval, Array(UnsafeBufferPointer(start: net.forward(single, batch: 1, mode: .eval, trace: aloneTrace, workspace: alone),
                                                           count: net.outputShape.count)))
            XCTAssertEqual(train, Array(UnsafeBufferPointer(start: net.forward(single, batch: 1, mode: .train(updateRunningStats: false),
                                                                               trace: aloneTrace, workspace: alone), count: net.outputShape.count)))
            let aloneDX = Array(UnsafeBufferPointer(start: net.backward(probe, trace: aloneTrace, workspace: alone, parameterGradients: false,
                                                                        inputGradient: true)!, count: single.count))
            let scale = aloneDX.map(abs).max()!
            XCTAssertGreaterThan(scale, 1e-3)
            XCTAssertLessThan(zip(dx, aloneDX).map { abs($0 - $1) }.max()! / scale, 1e-5)
        }
    }

    /// A convolution whose weight gradient each worker sums over its samples in bands of grid
    /// rows (one sample's im2col is over the column budget), the workers' partials added after,
    /// gives what one product over the whole batch gives, on 1, 2 and 3 threads.
    func testWeightGradientInBandsMatchesOneProduct() throws {
        let spec = ConvSpec(16, 5, kernel: 3, stride: 1, padding: 1), size = 96, n = 3
        let shape = SampleShape(channels: 16, height: size, width: size)
        let net = try Network(input: shape, layers: [("conv", .conv2d(spec))])
        var rng = RandomSource(seed: 8)
        rng.fillNormal(net.store.parameters, count: net.store.count, std: 0.1)
        let x = rng.normals(n * shape.count), dy = rng.normals(n * net.outputShape.count)
        let g = ConvGeometry(channels: 16, kernel: 3, stride: 1, padding: 1, imageH: size, imageW: size, gridH: size, gridW: size)
        XCTAssertGreaterThan(g.columnRows * g.gridSize, 1 << 19, "one sample's columns exceed the budget: bands of one sample")
        var col = [Float](repeating: 0, count: g.columnRows * n * g.gridSize)
        im2col(x, SampleRange(batch: n), &col, ldCol: n * g.gridSize, g)
        var expected = [Float](repeating: 0, count: net.store.count)
        expected.withUnsafeMutableBufferPointer { e in
            conv2dWeightGradient(dy: dy, col: col, ldCol: n * g.gridSize, weightGrad: e.baseAddress!,
                                 biasGrad: e.baseAddress! + spec.outChannels * g.columnRows, outChannels: spec.outChannels,
                                 geometry: g, samples: SampleRange(batch: n))
        }
        for threads in [1, 2, 3] {
            let workspace = Workspace(threads: threads), trace = Trace()
            net.forward(x, batch: n, mode: .train(updateRunningStats: false), trace: trace, workspace: workspace)
            net.store.zeroGradients()
            net.backward(dy, trace: trace, workspace: workspace, parameterGradients: true, inputGradient: false)
            let got = Array(UnsafeBufferPointer(start: net.store.gradients, count: net.store.count))
            let scale = expected.map(abs).max()!
            XCTAssertGreaterThan(scale, 1)
            XCTAssertLessThan(zip(got, expected).map { abs($0 - $1) }.max()! / scale, 1e-5, "\(threads) threads")
        }
    }

    /// A convolution whose forward runs in bands of grid rows (one sample's im2col is over the
    /// column budget) gives, bit for bit, what one product over the whole batch's columns gives,
    /// on 1, 2 and 3 threads, for stride 1 and 2 on a grid that is not square; and the workspace
    /// of an eval pass holds one band's columns, not the sample's.
    func testForwardInBandsMatchesOneProduct() throws {
        for (stride, padding, height, width) in [(1, 1, 100, 84), (2, 1, 170, 140)] {
            let spec = ConvSpec(16, 5, kernel: 3, stride: stride, padding: padding), n = 2
            let shape = SampleShape(channels: 16, height: height, width: width)
            let net = try Network(input: shape, layers: [("conv", .conv2d(spec))])
            var rng = RandomSource(seed: 9)
            rng.fillNormal(net.store.parameters, count: net.store.count, std: 0.1)
            let x = rng.normals(n * shape.count), out = net.outputShape
            let g = ConvGeometry(channels: 16, kernel: 3, stride: stride, padding: padding, imageH: shape.height,
                                 imageW: shape.width, gridH: out.height, gridW: out.width)
            XCTAssertGreaterThan(g.columnRows * g.gridSize, 1 << 19, "one sample's columns exceed the budget: bands")
            var col = [Float](repeating: 0, count: g.columnRows * n * g.gridSize)
            var expected = [Float](repeating: 0, count: n * out.count)
            let weights = net.store.parameters, bias = net.store.parameters + spec.outChannels * g.columnRows
            conv2dForward(x: x, y: &expected, col: &col, ldCol: n * g.gridSize, weight: weights, bias: bias,
                          outChannels: spec.outChannels, geometry: g, samples: SampleRange(batch: n))
            for threads in [1, 2, 3] {
                let workspace = Workspace(threads: threads), trace = Trace()
                let y = net.forward(x, batch: n, mode: .eval, trace: trace, workspace: workspace)
                XCTAssertEqual(Array(UnsafeBufferPointer(start: y, count: n * out.count)), expected, "stride \(stride), \(threads) threads")
            }
            let layer = net.nodes[0].layer
            XCTAssertLessThanOrEqual(layer.workerScratch([shape], out, samples: 1, backward: false), 1 << 19)
        }
    }

    /// A strided convolution whose one sample's columns exceed the budget folds its input gradient
    /// from a whole sample's columns: the backward's scratch holds them, and dx is what the fold
    /// gives with a scratch of its own.
    func testLargeStridedInputGradientHasRoomForItsColumns() throws {
        let spec = ConvSpec(16, 6, kernel: 3, stride: 2, padding: 1)
        let shape = SampleShape(channels: 16, height: 260, width: 250)
        let net = try Network(input: shape, layers: [("conv", .conv2d(spec))])
        var rng = RandomSource(seed: 21)
        rng.fillNormal(net.store.parameters, count: net.store.count, std: 0.1)
        let out = net.outputShape
        let g = ConvGeometry(channels: 16, kernel: 3, stride: 2, padding: 1, imageH: shape.height, imageW: shape.width,
                             gridH: out.height, gridW: out.width)
        XCTAssertGreaterThan(g.columnRows * g.gridSize, 1 << 19, "one sample's columns exceed the budget")
        XCTAssertGreaterThanOrEqual(net.nodes[0].layer.workerScratch([shape], out, samples: 1, backward: true), g.columnRows * g.gridSize)
        let x = rng.normals(shape.count), dy = rng.normals(out.count)
        let trace = Trace(), workspace = Workspace(threads: 1)
        net.forward(x, batch: 1, mode: .train(updateRunningStats: false), trace: trace, workspace: workspace)
        let dx = try XCTUnwrap(net.backward(dy, trace: trace, workspace: workspace, parameterGradients: false, inputGradient: true))
        var expected = [Float](repeating: 0, count: shape.count), scratch = [Float](repeating: 0, count: g.columnRows * g.gridSize)
        conv2dInputGradient(dy: dy, weight: net.store.parameters, dx: &expected, colScratch: &scratch, outChannels: 6, geometry: g,
                            samples: SampleRange(batch: 1))
        XCTAssertEqual(Array(UnsafeBufferPointer(start: dx, count: shape.count)), expected)
    }

    /// The direct convolution gives the im2col product's bits: 1 to 4 output channels at stride 1
    /// (the few-output kernel) and 5 to 20 at strides 1 to 3 (the tile kernel: whole and partial
    /// tiles of output channels), kernels 1 to 5 with every padding below them, rows not a
    /// multiple of any pixel step, two samples, the rows shared out in pieces or not.
    func testDirectConvolutionMatchesTheProduct() throws {
        let best = orderedGemmKernel
        defer { useOrderedGemmKernel(best) }
        let probe = ConvGeometry(channels: 1, kernel: 3, stride: 1, padding: 1, imageH: 1, imageW: 1, gridH: 1, gridW: 1)
        useOrderedGemmKernel("scalar")
        XCTAssertFalse(conv2dDirectApplies(probe, outChannels: 3), "the scalar kernel takes the im2col path")
        let vectorKernels = orderedGemmKernels.filter { $0 != "scalar" }
        guard !vectorKernels.isEmpty else { throw XCTSkip("no AVX2: the im2col path runs everywhere") }
        var rng = RandomSource(seed: 12)
        let pieces: ChannelSplit = { count, body in for t in 0..<3 { body((count * t / 3)..<(count * (t + 1) / 3)) } }
        var checked = 0
        for kernelName in vectorKernels {
            useOrderedGemmKernel(kernelName)
            XCTAssertTrue(conv2dDirectApplies(probe, outChannels: 3), kernelName)
            for (kernel, padding) in [(1, 0), (2, 1), (3, 0), (3, 1), (3, 2), (5, 2), (5, 4)] {
                for (channels, height, width) in [(3, 7, 37), (20, 5, 70), (2, 9, 16), (4, 6, 5), (5, 3, 101)] {
                    for (m, stride) in [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (8, 2), (13, 3), (20, 1), (20, 2)] {
                        let n = 2, gridH = (height + 2 * padding - kernel) / stride + 1
                        let gridW = (width + 2 * padding - kernel) / stride + 1
                        let g = ConvGeometry(channels: channels, kernel: kernel, stride: stride, padding: padding, imageH: height,
                                             imageW: width, gridH: gridH, gridW: gridW)
                        XCTAssertEqual(conv2dDirectApplies(g, outChannels: m), m <= 4 || gridW >= 16)
                        let x = rng.normals(channels * n * height * width), weight = rng.normals(m * g.columnRows), bias = rng.normals(m)
                        var col = [Float](repeating: 0, count: g.columnRows * n * g.gridSize)
                        var expected = [Float](repeating: 0, count: m * n * g.gridSize)
                        conv2dForward(x: x, y: &expected, col: &col, ldCol: n * g.gridSize, weight: weight, bias: bias,
                                      outChannels: m, geometry: g, samples: SampleRange(batch: n))
                        for split in [serial, pieces] {
                            var y = [Float](repeating: .nan, count: expected.count)
                            conv2dForwardDirect(x: x, y: &y, weight: weight, bias: bias, outChannels: m, geometry: g,
                                                samples: SampleRange(batch: n), split: split)
                            XCTAssertEqual(y.map(\.bitPattern), expected.map(\.bitPattern),
                                           "\(kernelName): k \(kernel) s \(stride) p \(padding) \(channels)×\(height)×\(width) → \(m)")
                            checked += 1
                        }
                    }
                }
            }
        }
        XCTAssertEqual(checked, vectorKernels.count * 7 * 5 * 9 * 2)
    }

    /// A lone sample large enough that its pointwise, upsampling, add and concat layers share
    /// their channels among the threads (2²⁰ values or more) gives the one-thread output exactly,
    /// in eval and in train mode.
    func testALargeLoneSampleGivesTheOneThreadOutput() throws {
        let shape = SampleShape(channels: 3, height: 256, width: 264)
        let net = try Network(input: shape, layers: [
            ("a", .conv2d(ConvSpec(3, 16, kernel: 3, stride: 1, padding: 1))), ("b", .activation(.leakyReLU(slope: 0.2))),
            ("c", .conv2d(ConvSpec(16, 16, kernel: 3, stride: 2, padding: 1))), ("d", .activation(.relu)),
            ("e", .upsample(factor: 2)), ("f", .add("b")), ("g", .concat("b")),
            ("h", .conv2d(ConvSpec(32, 3, kernel: 3, stride: 1, padding: 1))), ("i", .activation(.tanh)),
        ])
        XCTAssertGreaterThanOrEqual(16 * shape.plane, 1 << 20, "the layers split")
        var rng = RandomSource(seed: 8)
        rng.fillNormal(net.store.parameters, count: net.store.count, std: 0.3)
        let x = rng.normals(shape.count)
        for mode in [ForwardMode.eval, .train(updateRunningStats: false)] {
            var outputs: [[Float]] = []
            for threads in [1, 2] {
                let trace = Trace(), workspace = Workspace(threads: threads)
                let out = net.forward(x, batch: 1, mode: mode, trace: trace, workspace: workspace)
                outputs.append(Array(UnsafeBufferPointer(start: out, count: shape.count)))
                withExtendedLifetime(trace) {}
            }
            XCTAssertEqual(outputs[1].map(\.bitPattern), outputs[0].map(\.bitPattern), "\(mode)")
        }
    }

    /// Parameter-only backward passes accumulate: two passes give twice one pass's gradient.
    func testParameterGradientsAccumulateAcrossPasses() throws {
        let net = try makeNetwork()
        let n = 4
        var rng = RandomSource(seed: 5)
        let input = rng.normals(n * net.inputShape.count), probe = rng.normals(n * net.outputShape.count)
        let workspace = Workspace(threads: 2), trace = Trace()
        net.forward(input, batch: n, mode: .train(updateRunningStats: false), trace: trace, workspace: workspace)
        net.store.zeroGradients()
        net.backward(probe, trace: trace, workspace: workspace, parameterGradients: true, inputGradient: false)
        let once = Array(UnsafeBufferPointer(start: net.store.gradients, count: net.store.count))
        net.backward(probe, trace: trace, workspace: workspace, parameterGradients: true, inputGradient: false)
        let twice = Array(UnsafeBufferPointer(start: net.store.gradients, count: net.store.count))
        for i in 0..<once.count { XCTAssertEqual(twice[i], 2 * once[i], accuracy: 1e-5 * max(1, abs(once[i]))) }
    }
}
