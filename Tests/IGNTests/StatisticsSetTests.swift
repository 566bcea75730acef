import Engine
import Foundation
import IGN
import XCTest

/// The two sets of BatchNorm statistics a model file holds (``StatisticsSet``).
final class StatisticsSetTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try TestData.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// tiny28 with conv weights large enough that its BatchNorm statistics matter, its projection
    /// set calibrated on shapes and its generation set on its noise.
    func calibratedModel() throws -> IGNModel {
        let model = try IGNModel(architecture: .tiny28, channels: 1)
        model.initialize(seed: 4)
        let store = model.network.store
        for v in store.layout.parameters where v.shape.count == 4 {
            for k in 0..<v.count { store.parameters[v.offset + k] *= 15 }
        }
        try model.recalibrateBatchNorm(on: TestData.shapes(count: 64, seed: 1), batches: 20, batch: 32, threads: 1)
        return model
    }

    func buffers(_ model: IGNModel) -> [Float] {
        let store = model.network.store
        return Array(UnsafeBufferPointer(start: store.buffers, count: store.bufferCount))
    }

    func testGenerationCalibrationKeepsTheProjectionSetAndChangesOnlyGeneration() throws {
        let model = try calibratedModel()
        let projection = buffers(model), counters = model.network.store.counters
        let x = TestData.shapes(count: 6, seed: 2).values
        let before = Projector(model: model, threads: 1).apply(x, count: 6, steps: 2)
        try model.recalibrateGenerationStatistics(chain: 2, batches: 10, batch: 16, threads: 1)
        XCTAssertEqual(buffers(model), projection)
        XCTAssertEqual(model.network.store.counters, counters)
        XCTAssertEqual(Projector(model: model, threads: 1).apply(x, count: 6, steps: 2), before)
        let generation = model.generationStatistics
        XCTAssertEqual(generation.count, 2, "one set per application")
        for set in generation {
            XCTAssertEqual(set.count, projection.count)
            XCTAssertNotEqual(set, projection)
        }
        XCTAssertNotEqual(generation[0], generation[1], "f(z) is not distributed as z")
        XCTAssertNotNil(model.metadata["generation_batchnorm"])
    }

    /// Generation set k is the statistics of f's k-th inputs (z, then f(z)): eval mode with the
    /// sets on a large batch of noise behaves like batch statistics on that batch at every step
    /// (as projection does on data), and better at step 2 than the first set alone.
    func testGenerationSetsMatchBatchStatisticsAlongTheChain() throws {
        let model = try calibratedModel()
        try model.recalibrateGenerationStatistics(chain: 2, batches: 100, batch: 64, threads: 1)
        let z = try model.drawNoise(count: 256, seed: 9)
        let batch = Projector(model: model, threads: 1, statistics: .batch).apply(z, count: 256, steps: 2)
        func gaps(_ set: StatisticsSet) -> [Float] {
            let out = Projector(model: model, threads: 1, statistics: set).apply(z, count: 256, steps: 2)
            return (0..<2).map { k in zip(out[k], batch[k]).reduce(0) { $0 + abs($1.0 - $1.1) } / batch[k].reduce(0) { $0 + abs($1) } }
        }
        let generation = gaps(.generation), projection = gaps(.projection)
        XCTAssertLessThan(generation[0], 0.05)
        XCTAssertLessThan(generation[1], 0.1, "step 1's difference carries into step 2's input")
        XCTAssertGreaterThan(projection[0], 4 * generation[0], "the data's statistics normalise noise worse")
        model.generationStatistics.removeLast()
        let firstSetOnly = gaps(.generation)
        XCTAssertEqual(firstSetOnly[0], generation[0])
        XCTAssertGreaterThan(firstSetOnly[1], 2 * generation[1], "z's statistics normalise f(z) worse than f(z)'s: \(firstSetOnly[1]) vs \(generation[1])")
    }

    func testBothSetsRoundTripThroughSafetensorsUnderTheirNames() throws {
        let model = try calibratedModel()
        try model.recalibrateGenerationStatistics(chain: 3, batches: 5, batch: 16, threads: 1)
        let url = dir.appendingPathComponent("m.safetensors")
        try model.save(to: url)
        let file = try SafeTensors.read(url)
        let store = model.network.store
        // The plain (PyTorch state_dict) names hold the projection set; the prefixed ones the generation sets.
        let prefixes = ["generation.", "generation.step2.", "generation.step3."]
        XCTAssertEqual(model.generationStatistics.count, 3)
        for v in store.layout.buffers {
            XCTAssertEqual(file.tensors[v.name]?.floats(), Array(UnsafeBufferPointer(start: store.buffers + v.offset, count: v.count)))
            for (k, prefix) in prefixes.enumerated() {
                XCTAssertEqual(file.tensors[prefix + v.name]?.floats(), Array(model.generationStatistics[k][v.offset..<(v.offset + v.count)]))
                XCTAssertEqual(file.tensors[prefix + v.name]?.shape, v.shape)
            }
        }
        let generationNames = Set(file.tensors.keys.filter { $0.hasPrefix(StatisticsSet.generationPrefix) })
        XCTAssertEqual(generationNames, Set(prefixes.flatMap { p in store.layout.buffers.map { p + $0.name } }), "running statistics only")
        let loaded = try IGNModel.load(url)
        XCTAssertEqual(buffers(loaded), buffers(model))
        XCTAssertEqual(loaded.generationStatistics, model.generationStatistics)
        XCTAssertEqual(loaded.stateTensors().keys.sorted(), file.tensors.keys.sorted())
        let z = try model.drawNoise(count: 5, seed: 1)
        for set in StatisticsSet.allCases {
            XCTAssertEqual(Projector(model: loaded, threads: 1, statistics: set).apply(z, count: 5, steps: 2),
                           Projector(model: model, threads: 1, statistics: set).apply(z, count: 5, steps: 2), set.rawValue)
        }
    }

    func testStatisticsSwitchOutputsAndAFileWithoutAGenerationSetFallsBack() throws {
        let model = try calibratedModel()
        XCTAssertTrue(model.generationStatistics.isEmpty)
        XCTAssertEqual(model.resolve(.generation).set, .projection)
        XCTAssertNotNil(model.resolve(.generation).note)
        XCTAssertNil(model.resolve(.projection).note)
        let plain = try IGNModel(architecture: .fcnTiny, channels: 1)
        XCTAssertEqual(plain.resolve(.generation).set, .projection)
        XCTAssertNil(plain.resolve(.generation).note, "a model without BatchNorm has no set to miss")
        let z = try model.drawNoise(count: 8, seed: 3)
        let projection = Projector(model: model, threads: 1).apply(z, count: 8, steps: 1)[0]
        XCTAssertEqual(Projector(model: model, threads: 1, statistics: .generation).apply(z, count: 8, steps: 1)[0], projection)
        try model.recalibrateGenerationStatistics(batches: 10, batch: 16, threads: 1)
        let generation = Projector(model: model, threads: 1, statistics: .generation)
        XCTAssertEqual(generation.statistics, .generation)
        let generated = generation.apply(z, count: 8, steps: 1)[0]
        let batch = Projector(model: model, threads: 1, statistics: .batch).apply(z, count: 8, steps: 1)[0]
        XCTAssertNotEqual(generated, projection)
        XCTAssertNotEqual(batch, projection)
        XCTAssertNotEqual(batch, generated)
        XCTAssertEqual(Projector(model: model, threads: 1).apply(z, count: 8, steps: 1)[0], projection, "the store keeps the projection set")
        // Eval mode with either set: a sample's output does not depend on the batch size.
        XCTAssertEqual(generation.apply(z, count: 8, steps: 2, batchSize: 3), generation.apply(z, count: 8, steps: 2))
    }

    func testAFileWithPartOfTheGenerationSetIsRefused() throws {
        let model = try calibratedModel()
        try model.recalibrateGenerationStatistics(batches: 2, batch: 8, threads: 1)
        var tensors = model.stateTensors()
        let dropped = "generation." + model.network.store.layout.buffers[0].name
        tensors[dropped] = nil
        XCTAssertThrowsError(try IGNModel.load(SafeTensors.File(tensors: tensors, metadata: model.metadata), path: "m")) { error in
            XCTAssertTrue(String(describing: error).contains("missing \(dropped)"), String(describing: error))
        }
        tensors = model.stateTensors()
        tensors["generation.decoder.99.running_mean"] = .init(floats: [0], shape: [1])
        XCTAssertThrowsError(try IGNModel.load(SafeTensors.File(tensors: tensors, metadata: model.metadata), path: "m")) { error in
            XCTAssertTrue(String(describing: error).contains("unexpected generation.decoder.99.running_mean"), String(describing: error))
        }
        tensors = model.stateTensors()
        let name = "generation." + model.network.store.layout.buffers[1].name
        var values = tensors[name]!.floats()
        values[0] = .nan
        tensors[name] = .init(floats: values, shape: tensors[name]!.shape)
        XCTAssertThrowsError(try IGNModel.load(SafeTensors.File(tensors: tensors, metadata: model.metadata), path: "m")) { error in
            XCTAssertTrue(String(describing: error).contains("'\(name)' holds nan"), String(describing: error))
        }
    }
}
