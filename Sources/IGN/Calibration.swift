import Basics
import Engine
import Foundation

extension IGNModel {
    /// Re-estimates every BatchNorm's running statistics from `batches` training-mode passes over
    /// `data` (running statistics reset first, then updated with PyTorch's momentum, which forgets
    /// the reset after ~100 batches).
    ///
    /// Training updates the statistics from f(x), f(z) and f(f(z)) alike, so eval mode normalises
    /// real images with statistics partly taken from noise. Recalibrating on the images the model
    /// will be applied to makes eval mode behave like training mode on them, while each sample's
    /// output stays independent of its batch-mates.
    ///
    /// `noise` mixes corrupted copies in: a model that will project noisy inputs normalises
    /// them better with statistics that have seen some (see ``CalibrationNoise``). `sources`, when
    /// given, draws every sample from that mix instead (the corruptions of the jobs the model is for:
    /// gray images for a colorizer, sketches for a sketch projector). The passes run on `threads` threads.
    public func recalibrateBatchNorm(on data: Dataset, batches: Int = 200, batch: Int = 128,
                                     noise: CalibrationNoise = .none, sources: SourceMix? = nil, seed: UInt64 = 0,
                                     threads: Int) throws {
        network.resetBatchNormState()
        let shape = sampleShape, n = min(batch, data.count)
        var rng = RandomSource(seed: seed)
        let trace = Trace(), workspace = Workspace(threads: threads)
        var x = [Float](repeating: 0, count: n * shape.count), channelMajor = x
        // The model's own noise, only where the mix draws on it.
        let modelNoise = sources.map { $0.components.contains { $0.spec == SourceComponent.modelNoise } } == true
            ? try NoiseSource(metadata: metadata, shape: shape) : NoiseSource.gaussian(shape)
        for _ in 0..<batches {
            if let sources {
                try x.withUnsafeMutableBufferPointer {
                    _ = try sources.fill($0.baseAddress!, count: n, data: data, noise: modelNoise, rng: &rng)
                }
            } else {
                for i in 0..<n {
                    let index = Int(rng.next() % UInt64(data.count))
                    for k in 0..<shape.count { x[i * shape.count + k] = data.values[index * shape.count + k] }
                    if let sigma = noise.draw(&rng) {
                        x.withUnsafeMutableBufferPointer {
                            let sample = UnsafeMutableBufferPointer(rebasing: $0[(i * shape.count)..<((i + 1) * shape.count)])
                            PixelNoise.add(to: sample, sigma: Double(sigma), rng: &rng)
                        }
                    }
                }
            }
            ChannelMajor.fromSampleMajor(x, &channelMajor, batch: n, shape: shape)
            network.forward(channelMajor, batch: n, mode: .train(updateRunningStats: true), trace: trace, workspace: workspace)
        }
        metadata["batchnorm"] = "recalibrated on \(batches) batches of \(n) samples" + noise.summary
            + (sources.map { ", drawn from the mix " + $0.components.map(\.description).joined(separator: " ") } ?? "")
    }
}

/// Gaussian noise (``PixelNoise``) added to a share of the samples a recalibration sees.
public struct CalibrationNoise: Sendable, Equatable {
    /// Share of samples that get noise, in [0, 1].
    public var fraction: Double
    /// Noise levels (standard deviations on the 0…1 pixel scale), one chosen uniformly per noisy sample.
    public var sigmas: [Float]

    /// Clean samples only.
    public static let none = CalibrationNoise(fraction: 0, sigmas: [])

    public init(fraction: Double, sigmas: [Float]) {
        precondition((0...1).contains(fraction) && (fraction == 0 || !sigmas.isEmpty))
        self.fraction = fraction; self.sigmas = sigmas
    }

    /// The σ for the next sample, or nil for a clean one.
    func draw(_ rng: inout RandomSource) -> Float? {
        guard fraction > 0, Double(rng.nextUniform()) < fraction else { return nil }
        return sigmas[Int(rng.next() % UInt64(sigmas.count))]
    }

    var summary: String {
        fraction == 0 ? "" : ", \(Int((fraction * 100).rounded()))% with noise σ ∈ {\(sigmas.map { "\($0)" }.joined(separator: ", "))}"
    }
}

extension IGNModel {
    /// Estimates `chain` generation sets of BatchNorm statistics (``StatisticsSet/generation``),
    /// one per application of f, from f's own chain on the model's noise: each of `batches`
    /// rounds draws `batch` noises z and runs training-mode passes on z, f(z), …, f^(chain−1)(z)
    /// (each computed with its batch's statistics); pass k updates set k only, as in
    /// ``recalibrateBatchNorm(on:batches:batch:noise:seed:threads:)``. Sampling more steps than
    /// `chain` uses the last set for the rest. The projection set and the batch counters are
    /// left as they were.
    public func recalibrateGenerationStatistics(chain: Int = 1, batches: Int = 200, batch n: Int = 128,
                                                seed: UInt64 = 0, threads: Int) throws {
        precondition(chain >= 1 && batches >= 1 && n >= 2)
        let noise = try NoiseSource(metadata: metadata, shape: sampleShape)
        let projection = currentStatistics(), counters = network.store.counters
        defer { install(statistics: projection); network.store.counters = counters }
        network.resetBatchNormState()
        var rng = RandomSource(seed: seed)
        let trace = Trace(), workspace = Workspace(threads: threads), shape = sampleShape
        var z = [Float](repeating: 0, count: n * shape.count), channelMajor = z
        var sets = Array(repeating: currentStatistics(), count: chain)
        for _ in 0..<batches {
            z.withUnsafeMutableBufferPointer { noise.fill($0.baseAddress!, count: n, rng: &rng) }
            ChannelMajor.fromSampleMajor(z, &channelMajor, batch: n, shape: shape)
            var current: UnsafePointer<Float>?
            for k in 0..<chain {
                install(statistics: sets[k])
                let mode = ForwardMode.train(updateRunningStats: true)
                current = UnsafePointer(current.map { network.forward($0, batch: n, mode: mode, trace: trace, workspace: workspace) }
                                        ?? network.forward(channelMajor, batch: n, mode: mode, trace: trace, workspace: workspace))
                sets[k] = currentStatistics()
            }
        }
        generationStatistics = sets
        let inputs = (0..<chain).map { $0 == 0 ? "z" : $0 == 1 ? "f(z)" : "f^\($0)(z)" }.joined(separator: ", ")
        metadata["generation_batchnorm"] = "one set per application of f, each estimated on training-mode passes over its inputs (\(inputs)) "
            + "for \(batches) batches of \(n) noises (seed \(seed))"
    }
}
