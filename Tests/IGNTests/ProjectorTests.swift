import Engine
import IGN
import XCTest

final class ProjectorTests: XCTestCase {
    func model() throws -> IGNModel {
        let model = try IGNModel(architecture: .tiny28, channels: 1)
        model.initialize(seed: 6)
        try model.recalibrateBatchNorm(on: TestData.shapes(count: 32, seed: 1), batches: 10, batch: 16, threads: 1)
        return model
    }

    /// In eval mode batches only split the work; in train mode each batch normalises by its own statistics.
    func testBatchedApplicationSplitsTheWork() throws {
        let model = try model(), projector = Projector(model: model, threads: 1)
        let x = TestData.shapes(count: 10, seed: 2).values, d = model.sampleShape.count
        let whole = projector.apply(x, count: 10, steps: 3)
        let batched = projector.apply(x, count: 10, steps: 3, batchSize: 4)
        XCTAssertEqual(batched.map(\.count), [10 * d, 10 * d, 10 * d])
        for k in 0..<3 {
            // Equal up to GEMM rounding, which may depend on how many samples share a call.
            XCTAssertLessThan(zip(batched[k], whole[k]).map { abs($0 - $1) }.max()!, 1e-5, "f^\(k + 1)")
        }
        XCTAssertEqual(projector.apply(whole[0], count: 10, steps: 1)[0], whole[1], "f² is f applied to f")

        let trainBatched = projector.apply(x, count: 10, steps: 1, batchSize: 6, trainMode: true)[0]
        let first = projector.apply(Array(x[0..<(6 * d)]), count: 6, steps: 1, trainMode: true)[0]
        let rest = projector.apply(Array(x[(6 * d)...]), count: 4, steps: 1, trainMode: true)[0]
        XCTAssertEqual(trainBatched, first + rest)
        XCTAssertEqual(projector.apply([], count: 0, steps: 2, batchSize: 4), [[], []])
    }

    func testNoiseDrawsAreSeeded() throws {
        let model = try model()
        let z = try model.drawNoise(count: 3, seed: 4)
        XCTAssertEqual(z.count, 3 * model.sampleShape.count)
        XCTAssertEqual(z, try model.drawNoise(count: 3, seed: 4))
        XCTAssertNotEqual(z, try model.drawNoise(count: 3, seed: 5))
        XCTAssertEqual(Array(try model.drawNoise(count: 5, seed: 4).prefix(z.count)), z, "more samples extend the same stream")
        model.metadata["noise"] = "pink"
        XCTAssertThrowsError(try model.drawNoise(count: 1, seed: 4), "an unknown noise kind is refused")
    }
}
