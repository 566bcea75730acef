import Basics
import Engine
import Foundation

/// An Idempotent Generative Network f = decoder ∘ encoder, with its weights and the metadata
/// its file carries (`arch`, `channels`, and whatever training recorded).
public final class IGNModel {
    public let architecture: Architecture
    public let channels: Int
    public let network: Network
    /// Metadata written to and read from the model file's `__metadata__`.
    public var metadata: [String: String]
    /// The generation sets of BatchNorm running statistics, one per application of f from noise:
    /// set k normalises f's (k+1)-th application, and the last set every later one. Each is in the
    /// layout of the store's buffers (tensors `generation.NAME`, `generation.step2.NAME`, … in the
    /// file, see ``StatisticsSet/generationPrefix(step:)``); empty when the file has none.
    public var generationStatistics: [[Float]] = []

    /// The activation index (see ``Trace/activation(_:)``) of the latent code: the encoder's last output.
    public var latentActivation: Int { network.nodes.lastIndex { $0.name.hasPrefix("encoder.") }! + 1 }

    public var sampleShape: SampleShape {
        SampleShape(channels: channels, height: architecture.imageSize, width: architecture.imageSize)
    }

    public init(architecture: Architecture, channels: Int) throws {
        guard channels == 1 || channels == 3 else {
            throw ModelError("\(architecture.name): channels must be 1 or 3, not \(channels)")
        }
        self.architecture = architecture
        self.channels = channels
        network = try Network(input: SampleShape(channels: channels, height: architecture.imageSize,
                                                 width: architecture.imageSize),
                              layers: architecture.layers(channels: channels))
        metadata = ["arch": architecture.name, "channels": String(channels)]
    }

    /// The architecture's initialisation: conv weights N(0, 0.02) (DCGAN) or N(0, gain²/fan-in)
    /// (He), conv biases 0, norm weights N(1, 0.02), norm biases 0.
    public func initialize(seed: UInt64) {
        var rng = RandomSource(seed: seed)
        let store = network.store
        for node in network.nodes {
            for p in node.layer.initialization {
                var std = p.std
                if architecture.initialization == .kaiming, let fanIn = p.fanIn {
                    std = Float((2 / (1 + 0.2 * 0.2) / Double(fanIn)).squareRoot())
                }
                if std == 0 {
                    (store.parameters + p.view.offset).update(repeating: p.mean, count: p.view.count)
                } else {
                    rng.fillNormal(store.parameters + p.view.offset, count: p.view.count, mean: p.mean, std: std)
                }
            }
        }
        network.resetBatchNormState()
    }

    // MARK: Files

    /// The model's state as PyTorch would name it in `state_dict()`, plus the generation
    /// statistics (when there are any) under ``StatisticsSet/generationPrefix(step:)``.
    public func stateTensors() -> [String: SafeTensors.Entry] {
        let store = network.store
        var tensors: [String: SafeTensors.Entry] = [:]
        for v in store.layout.parameters {
            tensors[v.name] = .init(floats: Array(UnsafeBufferPointer(start: store.parameters + v.offset, count: v.count)), shape: v.shape)
        }
        for v in store.layout.buffers {
            tensors[v.name] = .init(floats: Array(UnsafeBufferPointer(start: store.buffers + v.offset, count: v.count)), shape: v.shape)
        }
        for (i, name) in store.layout.counters.enumerated() { tensors[name] = .init(int64: store.counters[i]) }
        for (k, generation) in generationStatistics.enumerated() {
            for v in store.layout.buffers {
                tensors[StatisticsSet.generationPrefix(step: k + 1) + v.name] = .init(floats: Array(generation[v.offset..<(v.offset + v.count)]), shape: v.shape)
            }
        }
        return tensors
    }

    /// Writes the model as safetensors, atomically: weights and BatchNorm statistics as F32, or
    /// as F16 with `halfPrecision` (half the size, for shipping; outputs change by ~1e-3).
    public func save(to url: URL, halfPrecision: Bool = false) throws {
        var tensors = stateTensors()
        if halfPrecision {
            for (name, entry) in tensors where entry.dtype == .f32 {
                guard let half = SafeTensors.Entry(halves: entry.floats(), shape: entry.shape) else {
                    throw TensorFileError(.unsupported, url.path, "tensor '\(name)' has values beyond F16's range (±65504)")
                }
                tensors[name] = half
            }
        }
        try SafeTensors.write(SafeTensors.File(tensors: tensors, metadata: metadata), to: url)
    }

    /// Loads a model file: its architecture and channels from `__metadata__`, then every tensor,
    /// checked by name and shape (PyTorch's `strict=True`); the metadata is kept as it is. (A
    /// training checkpoint loads through ``Checkpoint/modelPart(of:)``, as ``BundledModels/load(_:)`` does.)
    public static func load(_ url: URL) throws -> IGNModel {
        try load(SafeTensors.read(url), path: url.path)
    }

    /// ``load(_:)`` for a file already read; `path` names it in errors.
    public static func load(_ file: SafeTensors.File, path: String) throws -> IGNModel {
        guard let archName = file.metadata["arch"] else {
            throw TensorFileError(.mismatch, path, "no 'arch' in the file's __metadata__: not an ign model (architectures: \(Architecture.all.map(\.name).joined(separator: ", ")))")
        }
        guard let arch = Architecture.named(archName) else {
            throw TensorFileError(.unsupported, path, "unknown architecture '\(archName)'")
        }
        guard let channelText = file.metadata["channels"], let channels = Int(channelText), channels == 1 || channels == 3 else {
            throw TensorFileError(.mismatch, path, "__metadata__ 'channels' must be 1 or 3")
        }
        let model = try IGNModel(architecture: arch, channels: channels)
        try model.loadState(file, path: path)
        model.metadata = file.metadata
        return model
    }

    /// Copies tensors from `file` into this model, requiring exactly the model's names and
    /// shapes and finite values (`.nonFinite` names the tensor). The generation statistics
    /// (``StatisticsSet``) may be there or not, but not in part.
    public func loadState(_ file: SafeTensors.File, path: String) throws {
        let store = network.store
        func generationNames(_ step: Int) -> [String] { store.layout.buffers.map { StatisticsSet.generationPrefix(step: step) + $0.name } }
        var generationSteps = 0
        while generationNames(generationSteps + 1).contains(where: { file.tensors[$0] != nil }) { generationSteps += 1 }
        let expected = Set(store.layout.parameters.map(\.name) + store.layout.buffers.map(\.name) + store.layout.counters
                           + (0..<generationSteps).flatMap { generationNames($0 + 1) })
        let missing = expected.subtracting(file.tensors.keys).sorted()
        let unexpected = Set(file.tensors.keys).subtracting(expected).sorted()
        guard missing.isEmpty && unexpected.isEmpty else {
            throw TensorFileError(.mismatch, path, "does not match \(architecture.name) with \(channels) channels: "
                + (missing.isEmpty ? "" : "missing \(missing.prefix(4).joined(separator: ", "))\(missing.count > 4 ? "…" : ""); ")
                + (unexpected.isEmpty ? "" : "unexpected \(unexpected.prefix(4).joined(separator: ", "))\(unexpected.count > 4 ? "…" : "")"))
        }
        func copy(_ views: [ParameterStore.View], into base: UnsafeMutablePointer<Float>) throws {
            for v in views {
                let entry = file.tensors[v.name]!
                guard entry.shape == v.shape else {
                    throw TensorFileError(.mismatch, path, "tensor '\(v.name)' has shape \(entry.shape), \(architecture.name) needs \(v.shape)")
                }
                guard entry.dtype != .i64 else { throw TensorFileError(.mismatch, path, "tensor '\(v.name)' is an integer tensor") }
                (base + v.offset).update(from: entry.floats(), count: v.count)
            }
        }
        try copy(store.layout.parameters, into: store.parameters)
        try copy(store.layout.buffers, into: store.buffers)
        if let bad = store.firstNonFinite() {
            throw TensorFileError(.nonFinite, path, "tensor '\(bad.name)' holds \(bad.value) at index \(bad.index): a model's weights and statistics must be finite")
        }
        generationStatistics = []
        for step in 0..<generationSteps {
            var generation = [Float](repeating: 0, count: statisticsCount)
            for v in store.layout.buffers {
                let name = StatisticsSet.generationPrefix(step: step + 1) + v.name, entry = file.tensors[name]!
                guard entry.shape == v.shape, entry.dtype != .i64 else {
                    throw TensorFileError(.mismatch, path, "tensor '\(name)' has shape \(entry.shape), \(architecture.name) needs \(v.shape) (float)")
                }
                let values = entry.floats()
                if let bad = values.firstIndex(where: { !$0.isFinite }) {
                    throw TensorFileError(.nonFinite, path, "tensor '\(name)' holds \(values[bad]) at index \(bad): a model's weights and statistics must be finite")
                }
                generation.replaceSubrange(v.offset..<(v.offset + v.count), with: values)
            }
            generationStatistics.append(generation)
        }
        for (i, name) in store.layout.counters.enumerated() {
            guard let value = file.tensors[name]!.int64() else {
                throw TensorFileError(.mismatch, path, "tensor '\(name)' must be an int64 scalar")
            }
            store.counters[i] = value
        }
    }
}

/// A model that cannot be built or used as asked.
public struct ModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
