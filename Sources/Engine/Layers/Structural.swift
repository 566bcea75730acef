/// A pointwise activation (`nn.ReLU`, `nn.LeakyReLU`, `nn.Tanh`); its backward reads the output.
public final class ActivationLayer: Layer {
    public let function: Activation
    public init(_ function: Activation) { self.function = function }

    public func outputShape(_ inputs: [SampleShape]) throws -> SampleShape { inputs[0] }

    public func forward(_ call: LayerCall) {
        let input = call.input, output = call.output, samples = call.samples, plane = call.outputShape.plane
        call.forEachChannelRange { channels in self.function.forward(input, output, samples, channels: channels, plane: plane) }
    }

    public func backward(_ call: LayerCall, _ gradient: LayerGradient) {
        guard let dx = gradient.inputs[0] else { return }
        function.backward(dy: gradient.output, y: call.output, dx: dx, call.samples, channels: call.outputShape.channels,
                          plane: call.outputShape.plane)
    }
}

/// `nn.Upsample(scale_factor: factor, mode: "nearest")`: each pixel repeated factor × factor times.
public final class Upsample: Layer {
    public let factor: Int
    public init(factor: Int) { self.factor = factor }

    public func outputShape(_ inputs: [SampleShape]) throws -> SampleShape {
        guard factor >= 1 else { throw ShapeError("upsampling factor \(factor) must be at least 1") }
        let x = inputs[0]
        return SampleShape(channels: x.channels, height: x.height * factor, width: x.width * factor)
    }

    public func forward(_ call: LayerCall) {
        let x = call.inputShape, f = factor, outW = x.width * f
        call.forEachChannelRange { channels in
            for c in channels {
                for b in call.samples.range {
                    let src = call.input + (c * call.batch + b) * x.plane
                    let dst = call.output + (c * call.batch + b) * x.plane * f * f
                    for i in 0..<x.height {
                        let row = dst + i * f * outW
                        for j in 0..<x.width { let v = src[i * x.width + j]; for k in 0..<f { row[j * f + k] = v } }
                        for r in 1..<f { (row + r * outW).update(from: row, count: outW) }
                    }
                }
            }
        }
    }

    public func backward(_ call: LayerCall, _ gradient: LayerGradient) {
        guard let dx = gradient.inputs[0] else { return }
        let x = call.inputShape, f = factor, outW = x.width * f
        for c in 0..<x.channels {
            for b in call.samples.range {
                let dst = dx + (c * call.batch + b) * x.plane
                let src = gradient.output + (c * call.batch + b) * x.plane * f * f
                for i in 0..<x.height {
                    for j in 0..<x.width {
                        var sum: Float = 0
                        for r in 0..<f { for k in 0..<f { sum += src[(i * f + r) * outW + j * f + k] } }
                        dst[i * x.width + j] = sum
                    }
                }
            }
        }
    }
}

/// A residual connection: the sum of two inputs of one shape.
public final class Add: Layer {
    public init() {}

    public func outputShape(_ inputs: [SampleShape]) throws -> SampleShape {
        guard inputs[0] == inputs[1] else { throw ShapeError("adds \(inputs[0]) to \(inputs[1]): shapes differ") }
        return inputs[0]
    }

    public func forward(_ call: LayerCall) {
        let shape = call.outputShape
        call.forEachChannelRange { channels in
            for c in channels {
                let a = channelRun(call.inputs[0], channel: c, call.samples, plane: shape.plane)
                let b = channelRun(call.inputs[1], channel: c, call.samples, plane: shape.plane)
                let y = channelRun(call.output, channel: c, call.samples, plane: shape.plane)
                for i in 0..<y.count { y[i] = a[i] + b[i] }
            }
        }
    }

    public func backward(_ call: LayerCall, _ gradient: LayerGradient) {
        let shape = call.outputShape
        for dx in gradient.inputs {
            guard let dx else { continue }
            for c in 0..<shape.channels {
                let dy = channelRun(gradient.output, channel: c, call.samples, plane: shape.plane)
                _ = channelRun(dx, channel: c, call.samples, plane: shape.plane).update(fromContentsOf: dy)
            }
        }
    }
}

/// A skip connection: `torch.cat([a, b], dim=1)`, the channels of both inputs, `a`'s first.
public final class Concat: Layer {
    public init() {}

    public func outputShape(_ inputs: [SampleShape]) throws -> SampleShape {
        let a = inputs[0], b = inputs[1]
        guard a.height == b.height, a.width == b.width else { throw ShapeError("joins \(a) and \(b): sizes differ") }
        return SampleShape(channels: a.channels + b.channels, height: a.height, width: a.width)
    }

    /// Channel `c` of the output is channel `part.channel` of input `part.input`.
    func part(_ c: Int, _ shapes: [SampleShape]) -> (input: Int, channel: Int) {
        c < shapes[0].channels ? (0, c) : (1, c - shapes[0].channels)
    }

    public func forward(_ call: LayerCall) {
        let shape = call.outputShape
        call.forEachChannelRange { channels in
            for c in channels {
                let (k, ck) = self.part(c, call.inputShapes)
                let src = channelRun(call.inputs[k], channel: ck, call.samples, plane: shape.plane)
                _ = channelRun(call.output, channel: c, call.samples, plane: shape.plane).update(fromContentsOf: src)
            }
        }
    }

    public func backward(_ call: LayerCall, _ gradient: LayerGradient) {
        let shape = call.outputShape
        for c in 0..<shape.channels {
            let (k, ck) = part(c, call.inputShapes)
            guard let dx = gradient.inputs[k] else { continue }
            let dy = channelRun(gradient.output, channel: c, call.samples, plane: shape.plane)
            _ = channelRun(dx, channel: ck, call.samples, plane: shape.plane).update(fromContentsOf: dy)
        }
    }
}
