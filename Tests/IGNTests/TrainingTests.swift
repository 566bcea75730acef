import Engine
import Foundation
import IGN
import XCTest

final class TrainingTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = try TestData.temporaryDirectory()
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func makeTrainer(_ data: Dataset, steps: Int, seed: UInt64 = 7, noise: NoiseKind = .gaussian) throws -> Trainer {
        var options = TrainingOptions(data: dir.appendingPathComponent("data.npy").path, arch: "tiny28", channels: data.shape.channels)
        options.batch = 32; options.steps = steps; options.learningRate = 5e-3; options.seed = seed
        options.noise = noise; options.checkpointEvery = 10
        let model = try IGNModel(architecture: .tiny28, channels: data.shape.channels)
        model.initialize(seed: seed)
        let source = noise == .fourier ? NoiseSource.fourier(fittedTo: data) : .gaussian(data.shape)
        return try Trainer(options: options, model: model, dataset: data, noise: source, threads: 1)
    }

    /// A real run on generated shapes: the reconstruction loss falls and f(x) ≈ x on the training data.
    func testShortRunLearnsToReconstruct() throws {
        let data = TestData.shapes(count: 256, seed: 1)
        let trainer = try makeTrainer(data, steps: 1500)
        var rec: [Float] = []
        try trainer.run(checkpoint: dir.appendingPathComponent("ckpt.safetensors"), progress: { rec.append($0.lastLosses!.rec) })
        XCTAssertEqual(rec.count, 1500)
        let first = rec.prefix(10).reduce(0, +) / 10, last = rec.suffix(10).reduce(0, +) / 10
        XCTAssertLessThan(last, first * 0.15, "reconstruction loss should fall well below its start (\(first) → \(last))")

        // Eval mode, with BatchNorm statistics taken from the data (training mixes in those of noise).
        trainer.model.recalibrateBatchNorm(on: data, batches: 100, batch: 64, threads: 1)
        let sample = data.prefix(64)
        let fx = Projector(model: trainer.model, threads: 1).apply(sample.values, count: 64, steps: 1)[0]
        let meanAbs = zip(fx, sample.values).reduce(Float(0)) { $0 + abs($1.0 - $1.1) } / Float(fx.count)
        let blank = sample.values.reduce(Float(0)) { $0 + abs($1 + 1) } / Float(fx.count)
        XCTAssertLessThan(meanAbs, 0.4 * blank, "f(x) should be much closer to x than a blank image is (\(meanAbs) vs \(blank))")
    }

    /// A run stopped at a checkpoint and resumed ends bit-identical to an uninterrupted one.
    func testResumeReproducesUninterruptedRun() throws {
        let data = TestData.shapes(count: 96, seed: 2)
        let straight = try makeTrainer(data, steps: 6, noise: .fourier)
        try straight.run(checkpoint: dir.appendingPathComponent("a.safetensors"), progress: { _ in })

        let first = try makeTrainer(data, steps: 6, noise: .fourier)
        let checkpoint = dir.appendingPathComponent("b.safetensors")
        try first.run(checkpoint: checkpoint, progress: { _ in }, shouldStop: { first.state.step == 4 })
        XCTAssertEqual(first.state.step, 4)
        XCTAssertFalse(first.isFinished)
        let resumed = try Checkpoint.resume(from: checkpoint, dataset: data, threads: 1)
        XCTAssertEqual(resumed.state.step, 4)
        XCTAssertEqual(resumed.state.epoch, 1, "96 samples at batch 32: epoch 1 starts at step 3")
        try resumed.run(checkpoint: checkpoint, progress: { _ in })
        XCTAssertEqual(resumed.state.step, 6)

        let a = straight.model.stateTensors(), b = resumed.model.stateTensors()
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (name, tensor) in a { XCTAssertEqual(tensor.data, b[name]!.data, name) }
        let store = straight.model.network.store, other = resumed.model.network.store
        XCTAssertTrue((0..<store.count).allSatisfy { store.adamV[$0] == other.adamV[$0] }, "Adam moments continue too")
    }

    /// A checkpoint holds a model file: the model loader takes it, the strict model-file reader does not.
    func testCheckpointLoadsAsModel() throws {
        let data = TestData.shapes(count: 64, seed: 3)
        let trainer = try makeTrainer(data, steps: 2)
        let checkpoint = dir.appendingPathComponent("c.safetensors")
        try trainer.run(checkpoint: checkpoint, progress: { _ in })
        let model = try BundledModels.load(checkpoint.path)
        XCTAssertEqual(model.metadata["steps"], "2")
        XCTAssertTrue(Set(model.metadata.keys).isDisjoint(with: Checkpoint.keys), "\(model.metadata.keys.sorted())")
        XCTAssertThrowsError(try IGNModel.load(checkpoint)) { XCTAssertTrue("\($0)".contains("unexpected optimizer."), "\($0)") }
        let x = Array(data.values.prefix(4 * data.shape.count))
        XCTAssertEqual(Projector(model: model, threads: 1).apply(x, count: 4, steps: 1)[0],
                       Projector(model: trainer.model, threads: 1).apply(x, count: 4, steps: 1)[0])
        XCTAssertThrowsError(try Checkpoint.resume(from: dir.appendingPathComponent("missing.safetensors"), threads: 1))
    }

    func testRejectsMismatchedData() throws {
        let data = TestData.shapes(count: 64, channels: 3, seed: 4)
        var options = TrainingOptions(data: "x.npy", arch: "tiny28", channels: 1)
        options.batch = 8
        let model = try IGNModel(architecture: .tiny28, channels: 1)
        XCTAssertThrowsError(try Trainer(options: options, model: model, dataset: data, noise: .gaussian(data.shape), threads: 1))
    }
}
