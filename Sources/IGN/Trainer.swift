import Basics
import Engine
import Foundation

/// Everything that defines a training run; stored in checkpoints (``Checkpoint``) so `--resume`
/// needs nothing else.
public struct TrainingOptions: Codable, Equatable, Sendable {
    public var data: String
    public var arch: String
    public var channels: Int
    public var epochs: Int = 1
    /// Stop after this many optimiser steps in total (overrides `epochs` when set).
    public var steps: Int?
    public var batch: Int = 256
    public var learningRate: Double = 1e-4
    public var objective = ObjectiveConfig()
    public var noise: NoiseKind = .gaussian
    /// Take z batch by batch from this NCHW `.npy` file instead of sampling it.
    public var noiseFile: String?
    /// z's distribution as a mix of the model's noise and corrupted training images (``SourceMix``);
    /// nil: the model's noise alone.
    public var sources: [SourceComponent]?
    public var seed: UInt64 = 0
    public var shuffle = true
    public var checkpointEvery: Int = 500

    public init(data: String, arch: String, channels: Int) {
        self.data = data; self.arch = arch; self.channels = channels
    }
}

/// Where a run stands; all of it goes into a checkpoint.
public struct TrainingState: Equatable, Sendable {
    public var step = 0
    public var epoch = 0
    /// Batches of the current epoch already consumed.
    public var batchInEpoch = 0
    public var rng: RandomSource
    public var adam: Adam
    public var seconds: Double = 0
    public var lastLosses: Losses?
}

/// Trains an IGN with Adam on the IGN objective, checkpointing as it goes.
public final class Trainer {
    public let options: TrainingOptions
    public let model: IGNModel
    public let dataset: Dataset
    public let noise: NoiseSource
    public internal(set) var state: TrainingState
    private let objective: Objective
    private let noiseFile: Dataset?
    private let sourceMix: SourceMix?
    private var order: [Int] = []

    /// A fresh run on `threads` threads: the model should already hold its initial weights.
    /// `sources` must be given, built from `options.sources`, when those are set.
    public init(options: TrainingOptions, model: IGNModel, dataset: Dataset, noise: NoiseSource,
                sources: SourceMix? = nil, threads: Int) throws {
        guard dataset.shape == model.sampleShape else {
            throw ModelError("\(options.data): samples are \(dataset.shape), \(model.architecture.name) with \(model.channels) channel(s) takes \(model.sampleShape)")
        }
        guard options.batch >= 2, dataset.count >= options.batch else {
            throw ModelError("batch \(options.batch) needs at least 2 samples per batch and a dataset at least that large (\(dataset.count))")
        }
        guard sources?.components == options.sources else {
            throw ModelError("the source mix given (\(sources?.components.description ?? "none")) is not the options' (\(options.sources?.description ?? "none"))")
        }
        guard options.sources == nil || options.noiseFile == nil else {
            throw ModelError("a source mix and a noise file cannot be combined")
        }
        self.options = options
        self.model = model
        sourceMix = sources
        self.dataset = dataset
        self.noise = noise
        objective = Objective(model: model, config: options.objective, threads: threads)
        state = TrainingState(rng: RandomSource(seed: options.seed &+ 0x5EED), adam: Adam(learningRate: options.learningRate))
        if let path = options.noiseFile {
            let z = try Dataset.load(URL(fileURLWithPath: path))
            guard z.shape == model.sampleShape else {
                throw ModelError("\(path): noise samples are \(z.shape), the model takes \(model.sampleShape)")
            }
            noiseFile = z
        } else {
            noiseFile = nil
        }
        model.metadata.merge(noise.metadata) { $1 }
    }

    public var stepsPerEpoch: Int { dataset.count / options.batch }
    public var totalSteps: Int { options.steps ?? options.epochs * stepsPerEpoch }
    public var isFinished: Bool { state.step >= totalSteps }

    /// Runs until `totalSteps`, calling `progress` after each step and writing a checkpoint every
    /// `checkpointEvery` steps and at the end. `shouldStop` lets a caller end the run early (after a checkpoint).
    /// A step whose loss, or whose new weights or BatchNorm statistics, are not finite stops the
    /// run at once with a ``TrainingError`` and no checkpoint, so the last one written is the last good state.
    public func run(checkpoint: URL, progress: (TrainingState) -> Void, shouldStop: () -> Bool = { false }) throws {
        let n = options.batch, shape = model.sampleShape
        var x = [Float](repeating: 0, count: n * shape.count), z = x
        var xc = x, zc = x
        var kept: [KeptProperty] = [], sources: [Int?] = [], sigmas: [Double?] = []
        var saved: Int?  // the step of this run's last checkpoint
        while !isFinished && !shouldStop() {
            let started = Date()
            if state.batchInEpoch == 0 || order.isEmpty { order = epochOrder(state.epoch) }
            dataset.values.withUnsafeBufferPointer { src in
                for i in 0..<n {
                    let index = order[state.batchInEpoch * n + i]
                    x.withUnsafeMutableBufferPointer {
                        ($0.baseAddress! + i * shape.count).update(from: src.baseAddress! + index * shape.count, count: shape.count)
                    }
                }
            }
            if let noiseFile {
                let first = (state.step * n) % max(noiseFile.count - n + 1, 1)
                z = Array(noiseFile.values[(first * shape.count)..<((first + n) * shape.count)])
            } else if let sourceMix {
                let drawn = try z.withUnsafeMutableBufferPointer {
                    try sourceMix.fill($0.baseAddress!, count: n, data: dataset, noise: noise, rng: &state.rng)
                }
                kept = drawn.map(\.component.kept)
                sources = drawn.map(\.source)
                sigmas = drawn.map(\.component.noiseSigma)
            } else {
                z.withUnsafeMutableBufferPointer { noise.fill($0.baseAddress!, count: n, rng: &state.rng) }
            }
            ChannelMajor.fromSampleMajor(x, &xc, batch: n, shape: shape)
            ChannelMajor.fromSampleMajor(z, &zc, batch: n, shape: shape)
            let origins = BatchOrigins(x: (0..<n).map { order[state.batchInEpoch * n + $0] }, z: sources)
            let losses = objective.lossAndGradient(x: xc, z: zc, batch: n, kept: kept, origins: sourceMix == nil ? nil : origins,
                                                     noiseSigmas: sigmas)
            let lastCheckpoint = saved.map { "\(checkpoint.path) keeps step \($0)" } ?? "no checkpoint was written in this run"
            guard [losses.rec, losses.idem, losses.tight, losses.imle, losses.localMean, losses.consistency, losses.match, losses.sure, losses.total].allSatisfy(\.isFinite) else {
                throw TrainingError(.nonFinite, "step \(state.step + 1): the loss is not finite (\(losses.summary(options.objective.kind))): "
                                    + "training stopped; \(lastCheckpoint)")
            }
            state.adam.update(model.network.store)
            if let bad = model.network.store.firstNonFinite() {
                throw TrainingError(.nonFinite, "step \(state.step + 1): tensor '\(bad.name)' became \(bad.value): training stopped; \(lastCheckpoint)")
            }
            state.step += 1
            state.batchInEpoch += 1
            if state.batchInEpoch == stepsPerEpoch {
                state.epoch += 1
                state.batchInEpoch = 0
            }
            state.lastLosses = losses
            state.seconds += Date().timeIntervalSince(started)
            progress(state)
            if state.step % options.checkpointEvery == 0 {
                try Checkpoint.write(self, to: checkpoint)
                saved = state.step
            }
        }
        try Checkpoint.write(self, to: checkpoint)
    }

    /// The sample order of an epoch: a permutation seeded by (seed, epoch), or the file order.
    private func epochOrder(_ epoch: Int) -> [Int] {
        var order = Array(0..<dataset.count)
        guard options.shuffle else { return order }
        var rng = RandomSource(seed: options.seed ^ (UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15))
        order.shuffle(using: &rng)
        return order
    }

    /// Records what the model file needs to say about its training.
    public func describeTraining() {
        var m = model.metadata
        m["data"] = (options.data as NSString).lastPathComponent
        m["normalisation"] = "pixels in [-1, 1]: x = p/127.5 - 1"
        m["steps"] = String(state.step)
        m["epochs"] = String(format: "%.2f", Double(state.step) / Double(stepsPerEpoch))
        m["batch"] = String(options.batch)
        m["lr"] = String(options.learningRate)
        m["objective"] = String(data: try! JSONEncoder().encode(options.objective), encoding: .utf8)!
        m["seed"] = String(options.seed)
        if let sources = options.sources { m["sources"] = sources.map(\.description).joined(separator: " ") }
        m["train_seconds"] = String(format: "%.0f", state.seconds)
        if let l = state.lastLosses {
            m["final_losses"] = l.summary(options.objective.kind, digits: 5)
        }
        model.metadata = m
    }
}

/// A training run that cannot go on.
public struct TrainingError: Error, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        /// A step's loss, weights or BatchNorm statistics became NaN or infinite (diverged, or
        /// data or noise too large).
        case nonFinite
    }
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code; self.message = message
    }

    public var description: String { message }
}
