import ArgumentParser
import Basics
import Engine
import Foundation
import IGN
import Imaging

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an IGN on IDX (MNIST-format, .gz too) or .npy NCHW float32 data in [-1, 1].")

    @Option(help: "Training data: an IDX image file or an .npy NCHW float32 array. With --resume, continues the run on these data (samples of the same shape), from a new epoch.")
    var data: String?
    @Option(help: "Architecture.") var arch: Architecture = .dcgan28
    @Option(help: "Image channels, 1 or 3.") var channels = 1
    @Option(help: "Epochs (passes over the data; default 1).") var epochs: Int?
    @Option(help: "Stop after this many optimiser steps in total (overrides --epochs).") var steps: Int?
    @Option(help: "Batch size.") var batch = 256
    @Option(name: .output, help: "Where to write the trained model (safetensors).") var out: String
    @Option(help: "Adam learning rate (default 1e-4). With --resume, changes the run's (Adam's moments are kept: an anneal).") var lr: Double?
    @Option(name: .customLong("lambda-rec"), help: "Weight of the reconstruction loss.") var lambdaRec: Float = 20
    @Option(name: .customLong("lambda-idem"), help: "Weight of the idempotence loss.") var lambdaIdem: Float = 20
    @Option(name: .customLong("lambda-tight"), help: "Weight of the tightness loss (default 2.5). With --resume, changes the run's.") var lambdaTight: Float?
    @Option(name: .customLong("tight-a"), help: "The tightness clamp's a.") var tightA: Float = 1.5
    @Option(help: "Distance D.") var distance: Distance = .l1
    @Option(help: "ign: reconstruction, idempotence, tightness; naign: reconstruction, idempotence and an IMLE term (nearest f(z) pulled to each x) instead of tightness.")
    var objective: ObjectiveKind = .ign
    @Option(name: .customLong("lambda-imle"), help: "Weight of NAIGN's IMLE term.") var lambdaIMLE: Float = 20
    @Option(name: .customLong("lambda-local-mean"),
            help: "Weight of the local-mean consistency term: f(z) keeps the block means of each z that is a training image under noise (--source N:noise:σ). Default 0: off. With --resume, changes the run's.")
    var lambdaLocalMean: Float?
    @Option(name: .customLong("local-mean-block"), help: "Side in pixels of the blocks whose means that term compares (default 8). With --resume, changes the run's.")
    var localMeanBlock: Int?
    @Option(name: .customLong("lambda-consistency"),
            help: "Weight of the consistency term for gray and sketch sources: f(z) put through the same corruption again (a differentiable twin) gives z back, so f keeps a gray z's luminance and a sketch z's edges (--source N:grayscale, N:sketch). Default 0: off. With --resume, changes the run's.")
    var lambdaConsistency: Float?
    @Option(name: .customLong("lambda-match"),
            help: "Weight of the matching term for gray and sketch sources: each such z is paired with the batch's training image whose gray version or sketch is nearest z (never its own image), and f(z) is pulled toward it (conditional IMLE). Default 0: off. With --resume, changes the run's.")
    var lambdaMatch: Float?
    @Option(name: .customLong("lambda-sure"),
            help: "Weight of the SURE term for noisy sources: Stein's unbiased estimate of f(z)'s squared error against the clean image, from z and the noise σ alone (--source N:gaussian:σ, unclamped noise). Default 0: off. With --resume, changes the run's.")
    var lambdaSURE: Float?
    @Option(help: "Noise z is drawn from.") var noise: NoiseKind = .gaussian
    @Option(name: .customLong("noise-file"), help: "Take z batch by batch from this NCHW .npy file.") var noiseFile: String?
    @Option(name: .customLong("source"), parsing: .singleValue,
            help: "A part of z's distribution, WEIGHT:SPEC, repeatable: SPEC is 'model' (the --noise) or a corruption chain applied to random training images (noise:0.2, grayscale, sketch, grayscale,noise:0.1). Default: the --noise alone.")
    var sources: [String] = []
    @Option(help: "Start from these weights instead of a fresh initialisation.") var initWeights: String?
    @Option(help: "Random seed (initialisation, shuffling, noise).") var seed: UInt64 = 0
    @Flag(name: .customLong("no-shuffle"), help: "Visit the data in file order.") var noShuffle = false
    @Option(name: .customLong("checkpoint-every"), help: "Steps between checkpoints.") var checkpointEvery = 500
    @Option(help: "Checkpoint path (default: OUTPUT with .ckpt.safetensors).") var checkpoint: String?
    @Option(help: "Continue the run saved in this checkpoint; its options are reused (--epochs/--steps may extend it).") var resume: String?
    @Option(name: .customLong("snapshot-every"), help: "Also keep a model snapshot OUTPUT-stepN.safetensors every N steps, for evaluation.") var snapshotEvery: Int?
    @Option(name: .customLong("log-every"), help: "Steps between progress lines.") var logEvery = 20
    @OptionGroup var compute: ComputeOptions

    /// Steps a run may ask for, in all or between checkpoints, snapshots or log lines.
    static let stepCounts = 1...1_000_000_000

    func validate() throws {
        if let resume {
            try Check.exists("--resume", resume)
            if let data { try Check.exists("--data", data) }
        } else if let data {
            try Check.exists("--data", data)
        } else {
            throw ValidationError("give --data (or --resume a checkpoint)")
        }
        guard ArchitectureChannels.channelCounts.contains(channels) else {
            throw ValidationError("--channels must be 1 or 3, got \(channels)")
        }
        if let epochs { try Check.count("--epochs", epochs, in: 1...1_000_000) }
        if let steps { try Check.count("--steps", steps, in: TrainCommand.stepCounts) }
        try Check.count("--batch", batch, in: Check.trainingBatch)
        if let lr { try Check.positive("--lr", lr, atMost: 1) }
        try Check.number("--lambda-rec", lambdaRec, in: 0...1000)
        try Check.number("--lambda-idem", lambdaIdem, in: 0...1000)
        if let lambdaTight { try Check.number("--lambda-tight", lambdaTight, in: 0...1000) }
        try Check.positive("--tight-a", tightA, atMost: 1000)
        try Check.number("--lambda-imle", lambdaIMLE, in: 0...1000)
        if let lambdaLocalMean { try Check.number("--lambda-local-mean", lambdaLocalMean, in: 0...1000) }
        if let localMeanBlock { try Check.count("--local-mean-block", localMeanBlock, in: 1...4096) }
        if let lambdaConsistency { try Check.number("--lambda-consistency", lambdaConsistency, in: 0...1000) }
        if let lambdaMatch { try Check.number("--lambda-match", lambdaMatch, in: 0...1000) }
        if let lambdaSURE { try Check.number("--lambda-sure", lambdaSURE, in: 0...10000) }
        let components = sources.compactMap { try? parseSource($0) }, kept = components.map(\.kept)
        if resume == nil, (lambdaLocalMean ?? 0) > 0, !kept.contains(.localMeans) {
            throw ValidationError("--lambda-local-mean acts only on noisy training images: give a --source N:noise:σ")
        }
        if resume == nil, (lambdaSURE ?? 0) > 0, !components.contains(where: { $0.noiseSigma != nil }) {
            throw ValidationError("--lambda-sure acts only on training images under unclamped Gaussian noise: give a --source N:gaussian:σ")
        }
        for (option, lambda) in [("--lambda-consistency", lambdaConsistency), ("--lambda-match", lambdaMatch)]
        where resume == nil && (lambda ?? 0) > 0 && !kept.contains(where: \.hasTwin) {
            throw ValidationError("\(option) acts only on gray and sketch training images: give a --source N:grayscale or N:sketch")
        }
        if let noiseFile { try Check.exists("--noise-file", noiseFile) }
        for source in sources { _ = try parseSource(source) }
        if !sources.isEmpty, noiseFile != nil { throw ValidationError("--source and --noise-file cannot be combined") }
        if let initWeights { try Check.exists("--init-weights", initWeights) }
        try Check.count("--checkpoint-every", checkpointEvery, in: TrainCommand.stepCounts)
        if let snapshotEvery { try Check.count("--snapshot-every", snapshotEvery, in: TrainCommand.stepCounts) }
        try Check.count("--log-every", logEvery, in: TrainCommand.stepCounts)
    }

    func run() throws {
        let log = makeLogger("ign.train")
        installStopHandler()
        let outURL = try outputFile(out)
        let checkpointURL = try outputFile(checkpoint ?? outURL.deletingPathExtension().path + ".ckpt.safetensors")
        let trainer: Trainer
        let components = try sources.map(parseSource)
        if let resume {
            let (epochs, steps, data, lr, lambda, block) = (self.epochs, self.steps, self.data, self.lr, lambdaLocalMean, localMeanBlock)
            let (consistency, match, sure, tight) = (lambdaConsistency, lambdaMatch, lambdaSURE, lambdaTight)
            trainer = try Checkpoint.resume(from: URL(fileURLWithPath: resume), threads: compute.threads,
                                            corrupter: imageCorrupter) { options in
                if let steps { options.steps = steps }
                if let epochs { options.epochs = epochs; options.steps = steps }
                if let data { options.data = data }
                if let lr { options.learningRate = lr }
                if let lambda { options.objective.lambdaLocalMean = lambda }
                if let block { options.objective.localMeanBlock = block }
                if let consistency { options.objective.lambdaConsistency = consistency }
                if let match { options.objective.lambdaMatch = match }
                if let sure { options.objective.lambdaSURE = sure }
                if let tight { options.objective.lambdaTight = tight }
                if !components.isEmpty { options.sources = components }
            }
            log.info("resumed \(resume) at step \(trainer.state.step) (epoch \(trainer.state.epoch))")
        } else {
            var options = TrainingOptions(data: data!, arch: arch.name, channels: channels)
            options.epochs = epochs ?? 1; options.steps = steps; options.batch = batch; options.learningRate = lr ?? 1e-4
            options.objective.lambdaRec = lambdaRec; options.objective.lambdaIdem = lambdaIdem
            options.objective.lambdaTight = lambdaTight ?? 2.5; options.objective.tightA = tightA
            options.objective.distance = distance
            options.objective.kind = objective; options.objective.lambdaIMLE = lambdaIMLE
            options.objective.lambdaLocalMean = lambdaLocalMean ?? 0; options.objective.localMeanBlock = localMeanBlock ?? 8
            options.objective.lambdaConsistency = lambdaConsistency ?? 0
            options.objective.lambdaMatch = lambdaMatch ?? 0
            options.objective.lambdaSURE = lambdaSURE ?? 0
            options.noise = noise; options.noiseFile = noiseFile; options.seed = seed
            options.sources = components.isEmpty ? nil : components
            options.shuffle = !noShuffle; options.checkpointEvery = checkpointEvery
            let dataset = try Dataset.load(URL(fileURLWithPath: data!))
            log.info("\(data!): \(dataset.count) samples of \(dataset.shape)")
            let model: IGNModel
            if let initWeights {
                model = try BundledModels.load(initWeights)
                guard model.architecture == arch, model.channels == channels else {
                    throw CommandError("\(initWeights): is \(model.architecture.name) with \(model.channels) channel(s), not \(arch.name) with \(channels)")
                }
                // This run's record replaces the starting point's; the file it started from is named.
                // Its generation statistics belong to its weights, not to the ones training makes.
                model.generationStatistics = []
                let start = model.metadata
                model.metadata = ["arch": model.architecture.name, "channels": String(model.channels),
                                  "init_weights": (initWeights as NSString).lastPathComponent
                                      + (start["steps"].map { " (\($0) steps, lr \(start["lr"] ?? "?"))" } ?? "")]
            } else {
                model = try IGNModel(architecture: arch, channels: channels)
                model.initialize(seed: seed)
            }
            let noiseSource = noise == .fourier ? NoiseSource.fourier(fittedTo: dataset) : .gaussian(dataset.shape)
            let mix = try options.sources.map { try SourceMix($0, corrupter: imageCorrupter) }
            trainer = try Trainer(options: options, model: model, dataset: dataset, noise: noiseSource, sources: mix, threads: compute.threads)
        }
        // A new run's sources were checked in validate(); a resumed run's are its checkpoint's.
        let runKeeps = (trainer.options.sources ?? []).map(\.kept)
        let terms = trainer.options.objective
        if let resume, terms.lambdaLocalMean > 0, !runKeeps.contains(.localMeans) {
            throw CommandError("\(resume): the local-mean term acts only on noisy training images, and the run has no --source N:noise:σ")
        }
        if let resume, terms.lambdaSURE > 0, !(trainer.options.sources ?? []).contains(where: { $0.noiseSigma != nil }) {
            throw CommandError("\(resume): the SURE term acts only on training images under unclamped Gaussian noise, and the run has no --source N:gaussian:σ")
        }
        if let resume, terms.lambdaConsistency > 0 || terms.lambdaMatch > 0, !runKeeps.contains(where: \.hasTwin) {
            throw CommandError("\(resume): the consistency and matching terms act only on gray and sketch training images, and the run has no --source N:grayscale or N:sketch")
        }
        log.info("\(trainer.options.arch) C=\(trainer.options.channels): \(trainer.model.network.store.count) parameters, \(trainer.stepsPerEpoch) steps/epoch, \(trainer.totalSteps) steps, batch \(trainer.options.batch), \(compute.threads) threads")

        let trainLog = try TrainingLog(url: URL(fileURLWithPath: TrainingLog.path(forModel: outURL.path)), keepingUpTo: trainer.state.step)
        var windowStart = Date(), windowSteps = 0
        try trainer.run(checkpoint: checkpointURL, progress: { state in
            windowSteps += 1
            if let every = snapshotEvery, state.step % every == 0 {
                trainer.describeTraining()
                let snapshot = outURL.deletingPathExtension().path + "-step\(state.step).safetensors"
                do { try trainer.model.save(to: URL(fileURLWithPath: snapshot)) } catch { log.error("\(error)") }
            }
            guard state.step % logEvery == 0 || state.step == trainer.totalSteps, let l = state.lastLosses else { return }
            let elapsed = Date().timeIntervalSince(windowStart)
            let rate = Double(windowSteps * trainer.options.batch) / max(elapsed, 1e-9)
            log.info("step \(state.step)/\(trainer.totalSteps) epoch \(state.epoch) \(l.summary(trainer.options.objective.kind)) | \(Int(rate)) img/s")
            trainLog.append(state: state, learningRate: trainer.options.learningRate, imagesPerSecond: rate)
            windowStart = Date(); windowSteps = 0
        }, shouldStop: { stopRequested })
        if trainer.isFinished {
            trainer.describeTraining()
            try trainer.model.save(to: outURL)
            log.info("wrote \(out) after \(trainer.state.step) steps, \(Int(trainer.state.seconds)) s of training")
        } else {
            log.notice("stopped at step \(trainer.state.step); checkpoint \(checkpointURL.path) (continue with --resume)")
        }
    }
}

/// `OUTPUT.train.jsonl`: one line per progress line (step, epoch, losses, lr, img/s, training
/// seconds), read by `ign report`. A resumed run first drops the lines past its checkpoint, so
/// the log tells one history.
final class TrainingLog {
    private let handle: FileHandle?

    static func path(forModel model: String) -> String { (model as NSString).deletingPathExtension + ".train.jsonl" }

    init(url: URL, keepingUpTo step: Int) throws {
        let kept = ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let s = object["step"] as? Int else { return false }
            return s <= step
        }
        try AtomicFile.write(Data(kept.map { $0 + "\n" }.joined().utf8), to: url)
        handle = try? FileHandle(forWritingTo: url)
        _ = try? handle?.seekToEnd()
    }

    func append(state: TrainingState, learningRate: Double, imagesPerSecond: Double) {
        guard let l = state.lastLosses else { return }
        let f = { (x: Float) in "\(Double(x))" }
        let line = "{\"step\":\(state.step),\"epoch\":\(state.epoch),\"rec\":\(f(l.rec)),\"idem\":\(f(l.idem)),\"tight\":\(f(l.tight)),"
            + "\"imle\":\(f(l.imle)),\"local_mean\":\(f(l.localMean)),\"consistency\":\(f(l.consistency)),\"match\":\(f(l.match)),\"sure\":\(f(l.sure)),\"total\":\(f(l.total)),\"lr\":\(learningRate),\"img_per_s\":\(String(format: "%.2f", imagesPerSecond)),"
            + "\"seconds\":\(String(format: "%.1f", state.seconds))}\n"
        handle?.write(Data(line.utf8))
    }
}

/// A `--source` value, with its corruption chain checked.
func parseSource(_ text: String) throws -> SourceComponent {
    do {
        let component = try SourceComponent(parsing: text)
        if component.spec != SourceComponent.modelNoise { _ = try Corruption.parseChain(component.spec) }
        return component
    } catch {
        throw ValidationError("--source \(text): \(error)")
    }
}

/// The corruption chain of a source spec, applied with libvips to one sample.
func imageCorrupter(_ spec: String) throws -> SampleCorrupter {
    let chain = try Corruption.parseChain(spec)
    return { sample, shape, seed in
        let image = try PlanarImage(width: shape.width, height: shape.height, channels: shape.channels, pixels: sample)
        return try Corruption.apply(chain, to: image, seed: seed).pixels
    }
}

nonisolated(unsafe) private var stopRequested = false

/// SIGINT/SIGTERM end training after the current step, with a checkpoint.
private func installStopHandler() {
    signal(SIGINT) { _ in stopRequested = true }
    signal(SIGTERM) { _ in stopRequested = true }
}
