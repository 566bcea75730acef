import ArgumentParser
import Basics
import Engine
import Foundation
import IGN

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure forward throughput (eval mode) and IGN training-step time for each architecture.")

    /// The architectures measured by default.
    static let defaultArchitectures = [ArchitectureChannels(.dcgan28, 1), .init(.dcgan32, 3), .init(.dcgan64, 3)]

    @Option(help: ArgumentHelp("Architectures with channels, ARCH:CHANNELS (repeatable; default: "
                               + defaultArchitectures.map(\.description).joined(separator: ", ") + ")."),
            transform: ArchitectureChannels.init(parsing:))
    var arch: [ArchitectureChannels] = defaultArchitectures
    @Option(help: "Forward batch sizes (repeatable).") var batches: [Int] = [1, 64, 256]
    @Option(name: .customLong("train-batch"), help: "Batch of the training-step measurement.") var trainBatch = 64
    @Option(help: "Seconds spent measuring each figure (after a warm-up).") var seconds = 2.0
    @Option(help: "Also write the figures to this JSON file.") var json: String?
    @Flag(help: "Also time every layer: forward at the largest batch, and the training step's forward and backward, with each convolution's GFLOP/s beside OpenBLAS's sgemm on the same product.")
    var layers = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        for n in batches { try Check.count("--batches", n, in: Check.batch) }
        try Check.count("--train-batch", trainBatch, in: Check.trainingBatch)
        try Check.positive("--seconds", seconds, atMost: 3600)
    }

    func run() throws {
        var figures: [String: [String: Any]] = [:]
        print("threads \(compute.threads)")
        print("arch        C  batch   forward img/s   GFLOP/s   ms/batch")
        for spec in arch {
            let a = spec.architecture, channels = spec.channels
            let model = try IGNModel(architecture: a, channels: channels)
            model.initialize(seed: 1)
            let shape = model.sampleShape
            let flopsPerImage = 2 * Double(model.network.multiplyAddsPerSample)
            let projector = Projector(model: model, threads: compute.threads)
            var rng = RandomSource(seed: 2)
            var rates: [String: Double] = [:]
            for n in batches {
                let x = rng.normals(n * shape.count)
                let perCall = measure { _ = projector.apply(x, count: n, steps: 1) }
                let rate = Double(n) / perCall
                rates["\(n)"] = rate
                print(pad(a.name, 10), pad("\(channels)", 2), pad("\(n)", 6), pad(String(format: "%.0f", rate), 15),
                      pad(String(format: "%.1f", rate * flopsPerImage / 1e9), 9), pad(String(format: "%.2f", perCall * 1000), 10))
            }
            let objective = Objective(model: model, threads: compute.threads)
            var adam = Adam()
            let x = rng.normals(trainBatch * shape.count), z = rng.normals(trainBatch * shape.count)
            let step = measure {
                _ = objective.lossAndGradient(x: x, z: z, batch: trainBatch)
                adam.update(model.network.store)
            }
            // A step's GEMM work: 3 forward passes, 3 weight-gradient passes and 4 input-gradient passes.
            let stepFlops = 10 * flopsPerImage * Double(trainBatch)
            print("\(a.name) C=\(channels): IGN train step at batch \(trainBatch): \(String(format: "%.1f", step * 1000)) ms"
                  + " (\(String(format: "%.0f", Double(trainBatch) / step)) img/s, \(String(format: "%.1f", stepFlops / step / 1e9)) GFLOP/s)")
            figures["\(a.name):\(channels)"] = ["forward": rates, "train_step_ms": step * 1000]
            if layers {
                let n = batches.max() ?? 64
                let input = rng.normals(n * shape.count)
                let forward = profile(projector.workspace) { _ = projector.apply(input, count: n, steps: 1) }
                let training = profile(objective.workspace) {
                    _ = objective.lossAndGradient(x: x, z: z, batch: trainBatch)
                    adam.update(model.network.store)
                }
                printLayers(model.network, forwardBatch: n, forward: forward, training: training)
            }
        }
        if let json {
            let object: [String: Any] = ["threads": compute.threads, "gemm_kernel": orderedGemmKernel, "figures": figures]
            try AtomicFile.write(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
                                 to: URL(fileURLWithPath: json))
        }
    }

    /// Per-layer seconds of one call of `body`, averaged over calls filling about `seconds`.
    private func profile(_ workspace: Workspace, _ body: () -> Void) -> LayerProfile {
        let profile = LayerProfile()
        body()
        workspace.profile = profile
        defer { workspace.profile = nil }
        var calls = 0
        let start = Date()
        repeat {
            body()
            calls += 1
        } while Date().timeIntervalSince(start) < seconds || calls < 3
        return profile.averaged(over: calls)
    }

    /// The layer table: forward ms and GFLOP/s at `forwardBatch`, OpenBLAS's sgemm GFLOP/s on the
    /// same product (2 threads, one call), and the training step's forward + backward ms per layer.
    private func printLayers(_ network: Network, forwardBatch n: Int, forward: LayerProfile, training: LayerProfile) {
        let shapes = try! network.shapes(for: network.inputShape)
        print("layer           kind                     fwd ms   GFLOP/s   sgemm GFLOP/s   of sgemm   train fwd ms   train bwd ms")
        var total = (forward: 0.0, trainForward: 0.0, trainBackward: 0.0)
        for (i, node) in network.nodes.enumerated() {
            let inputs = node.inputs.map { shapes[$0] }
            let flops = 2 * Double(node.layer.multiplyAdds(inputs, shapes[i + 1]) * n)
            var rate = "", blas = "", share = ""
            if flops > 0 {
                let ours = flops / forward.forward[i] / 1e9
                rate = String(format: "%.1f", ours)
                if let product = GemmShape(node.spec, input: inputs[0], output: shapes[i + 1], batch: n) {
                    let reference = product.sgemmRate(threads: compute.threads, seconds: min(seconds, 0.5))
                    blas = String(format: "%.1f", reference)
                    share = String(format: "%.0f%%", 100 * ours / reference)
                }
            }
            total.forward += forward.forward[i]
            total.trainForward += training.forward[i]
            total.trainBackward += training.backward[i]
            print(padRight(node.name, 15), padRight(describe(node.spec), 24),
                  pad(String(format: "%.3f", forward.forward[i] * 1000), 7), pad(rate, 9), pad(blas, 15), pad(share, 10),
                  pad(String(format: "%.3f", training.forward[i] * 1000), 14), pad(String(format: "%.3f", training.backward[i] * 1000), 14))
        }
        print(padRight("total", 15), padRight("", 24), pad(String(format: "%.3f", total.forward * 1000), 7), pad("", 9), pad("", 15),
              pad("", 10), pad(String(format: "%.3f", total.trainForward * 1000), 14), pad(String(format: "%.3f", total.trainBackward * 1000), 14))
    }

    /// Median seconds per call over repeated calls filling about `seconds`, after one warm-up call.
    private func measure(_ body: () -> Void) -> Double {
        body()
        var times: [Double] = []
        let start = Date()
        repeat {
            let t = Date()
            body()
            times.append(Date().timeIntervalSince(t))
        } while Date().timeIntervalSince(start) < seconds || times.count < 3
        return times.sorted()[times.count / 2]
    }

    /// A layer in a few words: `conv 64→128 k4 s2`, `bn 128`, `lrelu`.
    private func describe(_ spec: LayerSpec) -> String {
        switch spec {
        case .conv2d(let c): return "conv \(c.inChannels)→\(c.outChannels) k\(c.kernel) s\(c.stride)"
        case .convTranspose2d(let c): return "convT \(c.inChannels)→\(c.outChannels) k\(c.kernel) s\(c.stride)"
        case .batchNorm2d(let c): return "bn \(c)"
        case .groupNorm(let g, let c): return "groupnorm \(g)×\(c / g)"
        case .activation(.relu): return "relu"
        case .activation(.leakyReLU): return "lrelu"
        case .activation(.tanh): return "tanh"
        case .upsample(let f): return "upsample ×\(f)"
        case .add(let from): return "add \(from)"
        case .concat(let from): return "concat \(from)"
        }
    }

    private func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
    private func padRight(_ s: String, _ width: Int) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
}

/// The matrix product a convolution's forward computes over a batch, for timing OpenBLAS on it.
struct GemmShape {
    let transA: Bool, m: Int, n: Int, k: Int

    init?(_ spec: LayerSpec, input: SampleShape, output: SampleShape, batch: Int) {
        switch spec {
        case .conv2d(let c):
            self.init(transA: false, m: c.outChannels, n: batch * output.plane, k: c.inChannels * c.kernel * c.kernel)
        case .convTranspose2d(let c):
            self.init(transA: true, m: c.outChannels * c.kernel * c.kernel, n: batch * input.plane, k: c.inChannels)
        default:
            return nil
        }
    }

    private init(transA: Bool, m: Int, n: Int, k: Int) { self.transA = transA; self.m = m; self.n = n; self.k = k }

    /// GFLOP/s of one OpenBLAS sgemm call on this product with `threads` threads (median call).
    func sgemmRate(threads: Int, seconds: Double) -> Double {
        var rng = RandomSource(seed: 3)
        let a = rng.normals(m * k), b = rng.normals(k * n)
        var c = [Float](repeating: 0, count: m * n)
        var times: [Double] = []
        Parallel.withBLASThreads(threads) {
            let start = Date()
            repeat {
                let t = Date()
                sgemm(transA: transA, m: m, n: n, k: k, a, lda: transA ? m : k, b, ldb: n, &c, ldc: n)
                times.append(Date().timeIntervalSince(t))
            } while Date().timeIntervalSince(start) < seconds || times.count < 3
        }
        return 2 * Double(m * n * k) / times.sorted()[times.count / 2] / 1e9
    }
}
