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
}
