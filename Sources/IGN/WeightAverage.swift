import Engine

extension IGNModel {
    /// The mean of the weights of `models` (snapshots of one run, or of runs from the same
    /// start: averaged weights along a trajectory are steadier than any one snapshot of the
    /// adversarial game). Every learned parameter and the projection running statistics are
    /// averaged; the generation sets are left out, since they belong to the weights they were
    /// estimated for, and the projection set is only a rough start: recalibrate both
    /// (`ign calibrate`). The metadata is the first model's, with `averaged` naming the inputs.
    public static func average(_ models: [(model: IGNModel, name: String)]) throws -> IGNModel {
        guard let first = models.first?.model else { throw ModelError("average: no models") }
        for (model, name) in models where model.architecture != first.architecture || model.channels != first.channels {
            throw ModelError("average: \(name) is \(model.architecture.name) with \(model.channels) channels, the first is \(first.architecture.name) with \(first.channels)")
        }
        let out = try IGNModel(architecture: first.architecture, channels: first.channels)
        let store = out.network.store, weight = 1 / Float(models.count)
        store.parameters.update(repeating: 0, count: store.count)
        store.buffers.update(repeating: 0, count: store.bufferCount)
        for (model, _) in models {
            let from = model.network.store
            for i in 0..<store.count { store.parameters[i] += weight * from.parameters[i] }
            for i in 0..<store.bufferCount { store.buffers[i] += weight * from.buffers[i] }
        }
        store.counters = first.network.store.counters
        out.metadata = first.metadata
        out.metadata["averaged"] = "mean of the weights of " + models.map(\.name).joined(separator: ", ")
        out.metadata["generation_batchnorm"] = nil
        return out
    }
}
