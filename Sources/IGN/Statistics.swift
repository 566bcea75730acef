import Engine

/// Which BatchNorm statistics eval mode normalises with.
///
/// A model file holds two sets of running statistics for the same weights: the **projection**
/// set under PyTorch's state_dict names (`decoder.1.running_mean`, …: estimated on data, what
/// projecting images needs) and, optionally, the **generation** set under the same names with
/// ``StatisticsSet/generationPrefix`` (`generation.decoder.1.running_mean`, …: estimated on
/// f's own chain from the model's noise, what sampling needs; one set per application of f,
/// each estimated on that application's inputs z, f(z), …). **batch** uses each batch's own
/// statistics (train mode, no set from the file).
public enum StatisticsSet: String, CaseIterable, Sendable {
    case projection, generation, batch

    /// Prefix of every generation set's tensor names in a model file.
    public static let generationPrefix = "generation."

    /// Prefix of the tensor names of the generation set for f's `step`-th application (from 1):
    /// `generation.` for the first (all that files had before there were several sets), then
    /// `generation.step2.`, `generation.step3.`, ….
    public static func generationPrefix(step: Int) -> String {
        step == 1 ? generationPrefix : generationPrefix + "step\(step)."
    }
}

extension IGNModel {
    /// The number of floats in the network's running-statistics buffers (one set).
    var statisticsCount: Int {
        network.store.layout.buffers.map { $0.offset + $0.count }.max() ?? 0
    }

    /// A copy of the running statistics in the store (the set eval mode uses now).
    func currentStatistics() -> [Float] {
        Array(UnsafeBufferPointer(start: network.store.buffers, count: statisticsCount))
    }

    /// Overwrites the store's running statistics with `values` (one set, in the store's layout).
    func install(statistics values: [Float]) {
        precondition(values.count == statisticsCount, "a statistics set of \(values.count) floats, the model has \(statisticsCount)")
        network.store.buffers.update(from: values, count: values.count)
    }

    /// The set `requested` resolves to for this model: `.generation` falls back to
    /// `.projection` when the file has no generation set, with a note saying so (none for a
    /// model without BatchNorm, whose outputs no set changes).
    public func resolve(_ requested: StatisticsSet) -> (set: StatisticsSet, note: String?) {
        guard requested == .generation, generationStatistics.isEmpty else { return (requested, nil) }
        guard network.hasBatchNorm else { return (.projection, nil) }
        return (.projection, "the model has no generation statistics (`ign calibrate --for generation` adds them): using its projection statistics")
    }

    /// Runs `body` with a function that installs the `set`'s running statistics for f's k-th
    /// application (k from 1: the generation set of that step, or the last one), then puts the
    /// projection set back. For `.batch` and `.projection` the function leaves the store as it is.
    func withStatistics<T>(_ set: StatisticsSet, _ body: (_ prepare: (_ step: Int) -> Void) throws -> T) rethrows -> T {
        let sets = generationStatistics
        guard set == .generation, !sets.isEmpty else { return try body { _ in } }
        let projection = currentStatistics()
        defer { install(statistics: projection) }
        return try body { step in install(statistics: sets[min(step, sets.count) - 1]) }
    }
}
