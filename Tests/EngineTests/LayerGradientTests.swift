import Basics
import Engine
import XCTest

/// Every layer's backward against central finite differences.
final class LayerGradientTests: XCTestCase {
    func network(_ input: SampleShape, _ specs: [LayerSpec]) throws -> Network {
        try Network(input: input, layers: specs.enumerated().map { ("layer.\($0.offset)", $0.element) })
    }

    func testConv2dStride2Kernel4() throws {
        let net = try network(SampleShape(channels: 2, height: 6, width: 6), [.conv2d(ConvSpec(2, 3, kernel: 4, stride: 2, padding: 1))])
        XCTAssertEqual(net.outputShape, SampleShape(channels: 3, height: 3, width: 3))
        GradientCheck(net, batch: 2, seed: 1).run()
    }

    func testConv2dKernel3OddSize() throws {
        let net = try network(SampleShape(channels: 3, height: 7, width: 7), [.conv2d(ConvSpec(3, 2, kernel: 3, stride: 2, padding: 1))])
        XCTAssertEqual(net.outputShape, SampleShape(channels: 2, height: 4, width: 4))
        GradientCheck(net, batch: 3, seed: 2).run()
    }

    func testConv2dNoPaddingToOnePixel() throws {
        let net = try network(SampleShape(channels: 2, height: 4, width: 4), [.conv2d(ConvSpec(2, 3, kernel: 4, stride: 1, padding: 0))])
        XCTAssertEqual(net.outputShape, SampleShape(channels: 3, height: 1, width: 1))
        GradientCheck(net, batch: 2, seed: 3).run()
    }

    func testConvTranspose2dStride2() throws {
        let net = try network(SampleShape(channels: 3, height: 3, width: 3), [.convTranspose2d(ConvSpec(3, 2, kernel: 4, stride: 2, padding: 1))])
        XCTAssertEqual(net.outputShape, SampleShape(channels: 2, height: 6, width: 6))
        GradientCheck(net, batch: 2, seed: 4).run()
    }

    func testConvTranspose2dKernel3OddOutput() throws {
        let net = try network(SampleShape(channels: 2, height: 4, width: 4), [.convTranspose2d(ConvSpec(2, 3, kernel: 3, stride: 2, padding: 1))])
        XCTAssertEqual(net.outputShape, SampleShape(channels: 3, height: 7, width: 7))
        GradientCheck(net, batch: 2, seed: 5).run()
    }

    func testConvTranspose2dFromOnePixel() throws {
        let net = try network(SampleShape(channels: 3, height: 1, width: 1), [.convTranspose2d(ConvSpec(3, 2, kernel: 4, stride: 1, padding: 0))])
        XCTAssertEqual(net.outputShape, SampleShape(channels: 2, height: 4, width: 4))
        GradientCheck(net, batch: 3, seed: 6).run()
    }

    func testBatchNormTrainMode() throws {
        let net = try network(SampleShape(channels: 3, height: 3, width: 2), [.batchNorm2d(channels: 3)])
        GradientCheck(net, batch: 4, seed: 7).run(eps: 1e-2, tolerance: 5e-3)
    }

    func testActivations() throws {
        for (i, f) in [Activation.relu, .leakyReLU(slope: 0.2), .tanh].enumerated() {
            let net = try network(SampleShape(channels: 2, height: 3, width: 3), [.activation(f)])
            var check = GradientCheck(net, batch: 2, seed: 8 + UInt64(i))
            // Keep inputs away from the kink at 0, where a finite difference is meaningless.
            check.input = check.input.map { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 }
            check.run(eps: 1e-3, tolerance: 2e-3)
        }
    }

    func testStackOfAllLayers() throws {
        let net = try network(SampleShape(channels: 2, height: 8, width: 8), [
            .conv2d(ConvSpec(2, 4, kernel: 4, stride: 2, padding: 1)), .batchNorm2d(channels: 4), .activation(.leakyReLU(slope: 0.2)),
            .conv2d(ConvSpec(4, 5, kernel: 4, stride: 1, padding: 0)),
            .convTranspose2d(ConvSpec(5, 3, kernel: 4, stride: 1, padding: 0)), .batchNorm2d(channels: 3), .activation(.relu),
            .convTranspose2d(ConvSpec(3, 2, kernel: 4, stride: 2, padding: 1)), .activation(.tanh),
        ])
        XCTAssertEqual(net.outputShape, SampleShape(channels: 2, height: 8, width: 8))
        var check = GradientCheck(net, batch: 3, seed: 20)
        // Smaller weights keep tanh off saturation, where float32 differences lose all precision.
        let store = net.store
        for i in 0..<store.count { store.parameters[i] *= 0.5 }
        check.input = check.input.map { $0 * 0.5 }
        check.run(eps: 1e-3, tolerance: 3e-3)
    }

    func named(_ input: SampleShape, _ layers: [(String, LayerSpec)]) throws -> Network {
        try Network(input: input, layers: layers.map { (name: $0.0, spec: $0.1) })
    }

    func testConv2dKernel3Stride1KeepsTheSize() throws {
        let net = try network(SampleShape(channels: 2, height: 5, width: 6), [.conv2d(ConvSpec(2, 3, kernel: 3, stride: 1, padding: 1))])
        XCTAssertEqual(net.outputShape, SampleShape(channels: 3, height: 5, width: 6))
        GradientCheck(net, batch: 2, seed: 30).run()
    }

    func testGroupNorm() throws {
        let net = try network(SampleShape(channels: 4, height: 3, width: 2), [.groupNorm(groups: 2, channels: 4)])
        GradientCheck(net, batch: 3, seed: 31).run(eps: 1e-2, tolerance: 5e-3)
    }

    func testGroupNormIsTheSameInEvalMode() throws {
        let net = try network(SampleShape(channels: 4, height: 3, width: 3), [.groupNorm(groups: 2, channels: 4)])
        let check = GradientCheck(net, batch: 3, seed: 32)
        let eval = GradientCheck(net, batch: 3, seed: 32, mode: .eval)
        XCTAssertEqual(check.loss(check.input), eval.loss(check.input))
    }

    func testUpsampleNearest() throws {
        let net = try network(SampleShape(channels: 2, height: 2, width: 3), [.upsample(factor: 2)])
        XCTAssertEqual(net.outputShape, SampleShape(channels: 2, height: 4, width: 6))
        GradientCheck(net, batch: 2, seed: 33).run()
    }

    func testResidualAddFromTheInput() throws {
        let net = try named(SampleShape(channels: 2, height: 4, width: 4), [
            ("conv", .conv2d(ConvSpec(2, 2, kernel: 3, stride: 1, padding: 1))), ("act", .activation(.tanh)), ("sum", .add("input")),
        ])
        GradientCheck(net, batch: 2, seed: 34).run(eps: 1e-3, tolerance: 3e-3)
    }

    /// A layer's output read by two later layers and twice by one: every path's gradient adds up.
    func testSkipConnectionsFanOut() throws {
        let net = try named(SampleShape(channels: 2, height: 4, width: 4), [
            ("down", .conv2d(ConvSpec(2, 3, kernel: 4, stride: 2, padding: 1))), ("norm", .groupNorm(groups: 3, channels: 3)),
            ("up", .upsample(factor: 2)), ("mix", .conv2d(ConvSpec(3, 2, kernel: 3, stride: 1, padding: 1))),
            ("join", .concat("input")), ("twice", .add("join")), ("out", .conv2d(ConvSpec(4, 2, kernel: 1, stride: 1, padding: 0))),
            ("res", .add("mix")),
        ])
        XCTAssertEqual(net.nodes.map(\.inputs), [[0], [1], [2], [3], [4, 0], [5, 5], [6], [7, 4]])
        XCTAssertEqual(net.outputShape, SampleShape(channels: 2, height: 4, width: 4))
        GradientCheck(net, batch: 2, seed: 35).run(eps: 1e-2, tolerance: 5e-3)
    }

    func testWiringErrorsNameTheLayer() throws {
        let shape = SampleShape(channels: 2, height: 4, width: 4)
        XCTAssertThrowsError(try named(shape, [("a", .activation(.relu)), ("b", .add("nowhere"))])) {
            XCTAssertTrue("\($0)".contains("b: no earlier layer named 'nowhere'"), "\($0)")
        }
        XCTAssertThrowsError(try named(shape, [("a", .conv2d(ConvSpec(2, 3, kernel: 3, stride: 1, padding: 1))), ("b", .add("input"))])) {
            XCTAssertTrue("\($0)".contains("b: adds"), "\($0)")
        }
        XCTAssertThrowsError(try named(shape, [("a", .activation(.relu)), ("a", .activation(.relu))]))
        XCTAssertThrowsError(try named(shape, [("a", .groupNorm(groups: 3, channels: 2))]))
    }

    /// A fully-convolutional network built for one size runs on others, with the same weights.
    func testOneNetworkRunsOnAnySize() throws {
        let net = try named(SampleShape(channels: 1, height: 8, width: 8), [
            ("down", .conv2d(ConvSpec(1, 2, kernel: 4, stride: 2, padding: 1))), ("up", .upsample(factor: 2)),
            ("out", .conv2d(ConvSpec(2, 1, kernel: 3, stride: 1, padding: 1))), ("res", .add("input")),
        ])
        let shape = SampleShape(channels: 1, height: 6, width: 10)
        XCTAssertEqual(try net.shapes(for: shape).last, shape)
        XCTAssertThrowsError(try net.shapes(for: SampleShape(channels: 1, height: 7, width: 10)), "odd sizes do not come back to size")
        var rng = RandomSource(seed: 36)
        rng.fillNormal(net.store.parameters, count: net.store.count, std: 0.5)
        let x = rng.normals(2 * shape.count)
        let trace = Trace(), workspace = Workspace(threads: 1)
        let both = Array(UnsafeBufferPointer(start: net.forward(x, batch: 2, shape: shape, mode: .eval, trace: trace, workspace: workspace),
                                             count: 2 * shape.count))
        XCTAssertEqual(trace.outputShape, shape)
        // Channel-major with one channel is NCHW: the second sample alone gives its half.
        let second = Array(UnsafeBufferPointer(start: net.forward(Array(x[shape.count...]), batch: 1, shape: shape, mode: .eval,
                                                                  trace: trace, workspace: workspace), count: shape.count))
        XCTAssertEqual(Array(both[shape.count...]), second)
    }
}
