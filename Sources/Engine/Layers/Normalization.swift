/// `nn.BatchNorm2d` (eps 1e-5, momentum 0.1): training normalises with the batch's statistics,
/// summed over every worker's samples; evaluation with the running statistics.
public final class BatchNorm2d: Layer {
    public let channels: Int
    public private(set) var weight: ParameterStore.View!, bias: ParameterStore.View!
    public private(set) var runningMean: ParameterStore.View!, runningVariance: ParameterStore.View!
    public private(set) var counter = 0

    public init(channels: Int) { self.channels = channels }

    public func register(_ name: String, in layout: inout ParameterStore.Layout) {
        weight = layout.addParameter("\(name).weight", shape: [channels])
        bias = layout.addParameter("\(name).bias", shape: [channels])
        runningMean = layout.addBuffer("\(name).running_mean", shape: [channels])
        runningVariance = layout.addBuffer("\(name).running_var", shape: [channels])
        counter = layout.addCounter("\(name).num_batches_tracked")
    }

    public var initialization: [ParameterInit] { [.init(view: weight, mean: 1, std: 0.02), .init(view: bias, mean: 0, std: 0)] }

    public func outputShape(_ inputs: [SampleShape]) throws -> SampleShape {
        guard inputs[0].channels == channels else { throw ShapeError("expects \(channels) channels, gets \(inputs[0])") }
        return inputs[0]
    }

    public func reductionSize(_ inputs: [SampleShape]) -> Int { 2 * channels }
    public func prepareSaved(_ existing: SavedState?, _ inputs: [SampleShape], batch: Int) -> SavedState? {
        NormStatistics.prepared(existing, count: channels)
    }

    /// PyTorch's fresh state: running mean 0, running variance 1, counter 0.
    public func resetRunningStatistics(_ store: ParameterStore) {
        (store.buffers + runningMean.offset).update(repeating: 0, count: channels)
        (store.buffers + runningVariance.offset).update(repeating: 1, count: channels)
        store.counters[counter] = 0
    }

    public func forward(_ call: LayerCall) {
        let c = channels, plane = call.outputShape.plane, s = call.samples
        guard case .train(let update) = call.mode else {
            BatchNorm.normalizeEval(call.input, call.output, s, channels: c, plane: plane, gamma: call.parameter(weight),
                                    beta: call.parameter(bias), runningMean: call.buffer(runningMean),
                                    runningVariance: call.buffer(runningVariance))
            return
        }
        var partial = [Double](repeating: 0, count: 2 * c)
        partial.withUnsafeMutableBufferPointer { BatchNorm.moments(call.input, s, channels: c, plane: plane, into: $0.baseAddress!) }
        let total = call.sumOverWorkers(partial)
        let stats = call.saved as! NormStatistics
        // Every worker derives the same statistics; worker 0 keeps them and updates the running ones.
        var local = [Float](repeating: 0, count: 2 * c)
        local.withUnsafeMutableBufferPointer { local in
            let running = (update && call.worker == 0)
                ? (mean: call.buffer(runningMean), variance: call.buffer(runningVariance)) : nil
            BatchNorm.statistics(moments: total, channels: c, count: call.batch * plane, mean: local.baseAddress!,
                                 invStd: local.baseAddress! + c, running: running)
            if call.worker == 0 {
                stats.mean.pointer.update(from: local.baseAddress!, count: c)
                stats.invStd.pointer.update(from: local.baseAddress! + c, count: c)
                if update { call.store.counters[counter] += 1 }
            }
            BatchNorm.normalize(call.input, call.output, s, channels: c, plane: plane, gamma: call.parameter(weight),
                                beta: call.parameter(bias), mean: local.baseAddress!, invStd: local.baseAddress! + c)
        }
    }

    public func backward(_ call: LayerCall, _ gradient: LayerGradient) {
        let c = channels, plane = call.outputShape.plane, stats = call.saved as! NormStatistics
        var partial = [Double](repeating: 0, count: 2 * c)
        partial.withUnsafeMutableBufferPointer {
            BatchNorm.backwardSums(dy: gradient.output, x: call.input, call.samples, channels: c, plane: plane,
                                   mean: stats.mean.pointer, invStd: stats.invStd.pointer, into: $0.baseAddress!)
        }
        let total = call.sumOverWorkers(partial)
        if gradient.parameters && call.worker == 0 {
            let gammaGrad = call.gradient(weight), betaGrad = call.gradient(bias)
            for k in 0..<c { betaGrad[k] += Float(total[k]); gammaGrad[k] += Float(total[c + k]) }
        }
        if let dx = gradient.inputs[0] {
            BatchNorm.backwardInput(dy: gradient.output, x: call.input, dx: dx, call.samples, channels: c, plane: plane,
                                    gamma: call.parameter(weight), mean: stats.mean.pointer, invStd: stats.invStd.pointer,
                                    sums: total, count: call.batch * plane)
        }
    }
}

/// `nn.GroupNorm(groups, channels)` (eps 1e-5, per-channel affine): each sample's channels are
/// split into `groups` groups, each normalised over its own values, so an output never depends
/// on the rest of the batch and training and evaluation compute the same thing.
public final class GroupNorm: Layer {
    public let groups: Int, channels: Int
    public static let eps = 1e-5
    public private(set) var weight: ParameterStore.View!, bias: ParameterStore.View!

    public init(groups: Int, channels: Int) { self.groups = groups; self.channels = channels }

    public func register(_ name: String, in layout: inout ParameterStore.Layout) {
        weight = layout.addParameter("\(name).weight", shape: [channels])
        bias = layout.addParameter("\(name).bias", shape: [channels])
    }

    public var initialization: [ParameterInit] { [.init(view: weight, mean: 1, std: 0.02), .init(view: bias, mean: 0, std: 0)] }

    public func outputShape(_ inputs: [SampleShape]) throws -> SampleShape {
        guard inputs[0].channels == channels else { throw ShapeError("expects \(channels) channels, gets \(inputs[0])") }
        guard groups > 0, channels % groups == 0 else { throw ShapeError("\(channels) channels do not split into \(groups) groups") }
        return inputs[0]
    }

    public func prepareSaved(_ existing: SavedState?, _ inputs: [SampleShape], batch: Int) -> SavedState? {
        NormStatistics.prepared(existing, count: batch * groups)
    }

    /// The values of channel `c` of sample `b`.
    @inline(__always) func run(_ base: UnsafeMutablePointer<Float>, _ c: Int, _ b: Int, batch: Int, plane: Int) -> UnsafeMutablePointer<Float> {
        base + (c * batch + b) * plane
    }

    public func forward(_ call: LayerCall) {
        let n = call.batch, plane = call.outputShape.plane, per = channels / groups
        let count = Double(per * plane)
        let gamma = call.parameter(weight), beta = call.parameter(bias)
        let stats = call.saved as? NormStatistics
        for b in call.samples.range {
            for g in 0..<groups {
                var sum = 0.0, sq = 0.0
                for c in (g * per)..<((g + 1) * per) {
                    let x = run(call.input, c, b, batch: n, plane: plane)
                    for i in 0..<plane { let v = Double(x[i]); sum += v; sq += v * v }
                }
                let mean = sum / count, variance = max(0, sq / count - mean * mean)
                let mu = Float(mean), inv = Float(1 / (variance + Self.eps).squareRoot())
                if call.mode.isTraining, let stats {
                    stats.mean.pointer[b * groups + g] = mu
                    stats.invStd.pointer[b * groups + g] = inv
                }
                for c in (g * per)..<((g + 1) * per) {
                    let x = run(call.input, c, b, batch: n, plane: plane), y = run(call.output, c, b, batch: n, plane: plane)
                    let scale = inv * gamma[c], shift = beta[c] - mu * scale
                    for i in 0..<plane { y[i] = x[i] * scale + shift }
                }
            }
        }
    }

    public func backward(_ call: LayerCall, _ gradient: LayerGradient) {
        let n = call.batch, plane = call.outputShape.plane, per = channels / groups
        let stats = call.saved as! NormStatistics, gamma = call.parameter(weight)
        let dy = gradient.output
        if gradient.parameters {
            // Rows of the whole batch split between workers: each channel summed in one place.
            let gammaGrad = call.gradient(weight), betaGrad = call.gradient(bias)
            for c in call.share(channels) {
                var sumDy = 0.0, sumDyXhat = 0.0
                for b in 0..<n {
                    let k = b * groups + c / per, mu = stats.mean.pointer[k], inv = stats.invStd.pointer[k]
                    let x = run(call.input, c, b, batch: n, plane: plane), g = run(dy, c, b, batch: n, plane: plane)
                    for i in 0..<plane { sumDy += Double(g[i]); sumDyXhat += Double(g[i] * (x[i] - mu) * inv) }
                }
                betaGrad[c] += Float(sumDy); gammaGrad[c] += Float(sumDyXhat)
            }
        }
        guard let dx = gradient.inputs[0] else { return }
        // dx = σ⁻¹ (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) over each group, with ĝ = γ·dy.
        let count = Float(per * plane)
        for b in call.samples.range {
            for g in 0..<groups {
                let k = b * groups + g, mu = stats.mean.pointer[k], inv = stats.invStd.pointer[k]
                var sumG = 0.0, sumGXhat = 0.0
                for c in (g * per)..<((g + 1) * per) {
                    let x = run(call.input, c, b, batch: n, plane: plane), d = run(dy, c, b, batch: n, plane: plane)
                    for i in 0..<plane {
                        let gh = d[i] * gamma[c]
                        sumG += Double(gh); sumGXhat += Double(gh * (x[i] - mu) * inv)
                    }
                }
                let meanG = Float(sumG) / count, meanGXhat = Float(sumGXhat) / count
                for c in (g * per)..<((g + 1) * per) {
                    let x = run(call.input, c, b, batch: n, plane: plane), d = run(dy, c, b, batch: n, plane: plane)
                    let out = run(dx, c, b, batch: n, plane: plane)
                    for i in 0..<plane { out[i] = inv * (d[i] * gamma[c] - meanG - (x[i] - mu) * inv * meanGXhat) }
                }
            }
        }
    }
}
