import Engine
import IGN
import XCTest

final class CalibrationTests: XCTestCase {
    /// After recalibration, eval mode on the data behaves like training mode on a large batch of it.
    func testEvalModeMatchesBatchStatisticsAfterRecalibration() throws {
        let data = TestData.shapes(count: 128, seed: 6)
        let model = try IGNModel(architecture: .tiny28, channels: 1)
        model.initialize(seed: 2)
        // Conv weights at std 0.3: at DCGAN's 0.02 the untrained features are ~0 and dominated by eps.
        let store = model.network.store
        for v in store.layout.parameters where v.shape.count == 4 {
            for k in 0..<v.count { store.parameters[v.offset + k] *= 15 }
        }
        let projector = Projector(model: model)
        let train = projector.apply(data.values, count: data.count, steps: 1, trainMode: true)[0]
        func gap() -> Float {
            let eval = projector.apply(data.values, count: data.count, steps: 1)[0]
            // Mean difference relative to the outputs' mean size.
            return zip(eval, train).reduce(0) { $0 + abs($1.0 - $1.1) } / train.reduce(0) { $0 + abs($1) }
        }
        let before = gap()
        model.recalibrateBatchNorm(on: data, batches: 100, batch: 64)
        let after = gap()
        XCTAssertGreaterThan(before, 0.3, "fresh running statistics (0, 1) are far from the data's")
        XCTAssertLessThan(after, 0.05, "recalibrated statistics are the data's, up to sampling")
        XCTAssertNotNil(model.metadata["batchnorm"])
    }
}
