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
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        for n in batches { try Check.count("--batches", n, in: Check.batch) }
        try Check.count("--train-batch", trainBatch, in: Check.trainingBatch)
        try Check.positive("--seconds", seconds, atMost: 3600)
    }

    func run() throws {
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
            for n in batches {
                let x = rng.normals(n * shape.count)
                let perCall = measure { _ = projector.apply(x, count: n, steps: 1) }
                let rate = Double(n) / perCall
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
        }
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

    private func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
}
