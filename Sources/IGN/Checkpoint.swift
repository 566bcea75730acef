import Basics
import Engine
import Foundation

/// A training checkpoint: one safetensors file holding a model file's tensors and metadata plus
/// what a resumed run continues from — Adam's moments (tensors `optimizer.m` and `optimizer.v`)
/// and the run's options, position, Adam step, RNG state and time (the metadata ``keys``).
/// ``modelPart(of:)`` turns it back into a plain model file.
public enum Checkpoint {
    /// Metadata only a checkpoint carries. A model taken from a checkpoint leaves it out, so
    /// files written from that model do not repeat stale state.
    public static let keys: Set<String> = ["checkpoint", "options", "step", "epoch", "batch_in_epoch", "adam_step", "rng", "seconds"]
    /// Names of the tensors holding Adam's first and second moments.
    static let firstMoment = "optimizer.m", secondMoment = "optimizer.v"

    /// Writes the trainer's model (with its training record, see ``Trainer/describeTraining()``),
    /// Adam's moments and the run's state to `url`, atomically.
    public static func write(_ trainer: Trainer, to url: URL) throws {
        trainer.describeTraining()
        let store = trainer.model.network.store, state = trainer.state
        var tensors = trainer.model.stateTensors()
        tensors[firstMoment] = .init(floats: Array(UnsafeBufferPointer(start: store.adamM, count: store.count)), shape: [store.count])
        tensors[secondMoment] = .init(floats: Array(UnsafeBufferPointer(start: store.adamV, count: store.count)), shape: [store.count])
        var meta = trainer.model.metadata
        meta["checkpoint"] = "1"
        meta["options"] = String(data: try JSONEncoder().encode(trainer.options), encoding: .utf8)!
        meta["step"] = String(state.step)
        meta["epoch"] = String(state.epoch)
        meta["batch_in_epoch"] = String(state.batchInEpoch)
        meta["adam_step"] = String(state.adam.step)
        meta["rng"] = state.rng.stateWords.map { String($0, radix: 16) }.joined(separator: ",")
        meta["seconds"] = String(state.seconds)
        try SafeTensors.write(SafeTensors.File(tensors: tensors, metadata: meta), to: url)
    }

    /// The run saved at `url`, ready to continue on `threads` threads; `override` may change the
    /// run's options (its length, data, learning rate, local-mean term, source mix). The data are the options' file
    /// unless `dataset` is given; on data other than the recorded, the run goes on from a new epoch.
    /// A run with a source mix needs `corrupter` to rebuild it (see ``SourceMix/init(_:corrupter:)``).
    public static func resume(from url: URL, dataset: Dataset? = nil, threads: Int,
                              corrupter: ((String) throws -> SampleCorrupter)? = nil,
                              override: (inout TrainingOptions) -> Void = { _ in }) throws -> Trainer {
        let file = try SafeTensors.read(url)
        let meta = file.metadata
        guard meta["checkpoint"] == "1", let optionsText = meta["options"],
              var options = try? JSONDecoder().decode(TrainingOptions.self, from: Data(optionsText.utf8)),
              let step = meta["step"].flatMap(Int.init), let epoch = meta["epoch"].flatMap(Int.init),
              let batchInEpoch = meta["batch_in_epoch"].flatMap(Int.init), let adamStep = meta["adam_step"].flatMap(Int.init),
              let rngWords = meta["rng"]?.split(separator: ",").compactMap({ UInt64($0, radix: 16) }), rngWords.count == 4,
              let m = file.tensors[firstMoment], let v = file.tensors[secondMoment]
        else { throw TensorFileError(.mismatch, url.path, "not an ign training checkpoint (model files cannot be resumed)") }
        let recordedData = options.data
        override(&options)
        let model = try IGNModel.load(modelPart(of: file), path: url.path)
        let store = model.network.store
        guard m.count == store.count, v.count == store.count else {
            throw TensorFileError(.mismatch, url.path, "optimizer state does not match the model")
        }
        store.adamM.update(from: m.floats(), count: store.count)
        store.adamV.update(from: v.floats(), count: store.count)
        let data = try dataset ?? Dataset.load(URL(fileURLWithPath: options.data))
        let noise = try NoiseSource(metadata: meta, shape: model.sampleShape)
        let sources = try options.sources.map { components -> SourceMix in
            guard let corrupter else { throw ModelError("\(url.path): the run draws z from a source mix; resuming it needs the corruptions") }
            return try SourceMix(components, corrupter: corrupter)
        }
        let trainer = try Trainer(options: options, model: model, dataset: data, noise: noise, sources: sources, threads: threads)
        trainer.state.step = step
        trainer.state.epoch = epoch
        // On other data the place in the old epoch's order means nothing: a new epoch begins.
        trainer.state.batchInEpoch = options.data == recordedData ? batchInEpoch : 0
        trainer.state.adam.step = adamStep
        trainer.state.rng = RandomSource(state: rngWords)
        trainer.state.seconds = Double(meta["seconds"] ?? "0") ?? 0
        return trainer
    }

    /// The model file inside `file`: without a checkpoint's moments and ``keys``; a model file
    /// comes back unchanged.
    public static func modelPart(of file: SafeTensors.File) -> SafeTensors.File {
        SafeTensors.File(tensors: file.tensors.filter { $0.key != firstMoment && $0.key != secondMoment },
                         metadata: file.metadata.filter { !keys.contains($0.key) })
    }
}
