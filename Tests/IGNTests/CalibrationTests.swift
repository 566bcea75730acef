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
        let projector = Projector(model: model, threads: 1)
        let train = projector.apply(data.values, count: data.count, steps: 1, trainMode: true)[0]
        func gap() -> Float {
            let eval = projector.apply(data.values, count: data.count, steps: 1)[0]
            // Mean difference relative to the outputs' mean size.
            return zip(eval, train).reduce(0) { $0 + abs($1.0 - $1.1) } / train.reduce(0) { $0 + abs($1) }
        }
        let before = gap()
        try model.recalibrateBatchNorm(on: data, batches: 100, batch: 64, threads: 1)
        let after = gap()
        XCTAssertGreaterThan(before, 0.3, "fresh running statistics (0, 1) are far from the data's")
        XCTAssertLessThan(after, 0.05, "recalibrated statistics are the data's, up to sampling")
        XCTAssertNotNil(model.metadata["batchnorm"])
    }

    /// Noise mixed into the calibration reaches the running statistics as noise of the asked σ
    /// on the asked share of samples. On all-zero images the network (zero biases, LeakyReLU,
    /// which is positively homogeneous) is linear in the noise up to its first BatchNorm, so that
    /// BatchNorm's running variance scales as σ²; with a share f of noisy samples (the rest give
    /// 0) the variance is f·E[y²] − (f·E[y])² of the all-noisy statistics.
    func testNoiseMixReachesTheStatisticsWithItsSigmaAndShare() throws {
        let model = try IGNModel(architecture: .tiny28, channels: 1)
        model.initialize(seed: 3)
        let zeros = Dataset(shape: model.sampleShape, values: [Float](repeating: 0, count: 64 * model.sampleShape.count))
        let store = model.network.store
        let variance = store.layout.buffers.first { $0.name.hasSuffix("running_var") }!
        let mean = store.buffer(variance.name.replacingOccurrences(of: "running_var", with: "running_mean"))!
        func runningStatistics(_ noise: CalibrationNoise) throws -> (mean: [Double], variance: [Double]) {
            try model.recalibrateBatchNorm(on: zeros, batches: 300, batch: 32, noise: noise, seed: 9, threads: 1)
            return ((0..<mean.count).map { Double(store.buffers[mean.offset + $0]) },
                    (0..<variance.count).map { Double(store.buffers[variance.offset + $0]) })
        }
        let clean = try runningStatistics(.none).variance
        let small = try runningStatistics(CalibrationNoise(fraction: 1, sigmas: [0.02])).variance
        let large = try runningStatistics(CalibrationNoise(fraction: 1, sigmas: [0.04]))
        let half = try runningStatistics(CalibrationNoise(fraction: 0.5, sigmas: [0.04])).variance
        XCTAssertTrue(clean.allSatisfy { $0 < 1e-12 }, "zero images give zero variance: \(clean)")
        XCTAssertTrue(small.allSatisfy { $0 > 1e-9 }, "\(small)")
        for c in 0..<variance.count {
            XCTAssertEqual(large.variance[c] / small[c], 4, accuracy: 1e-3, "channel \(c): twice the σ, four times the variance")
            let m = large.mean[c], expected = 0.5 * (large.variance[c] + m * m) - 0.25 * m * m
            XCTAssertEqual(half[c] / expected, 1, accuracy: 0.1, "channel \(c): half the samples noisy")
        }
        XCTAssertTrue(model.metadata["batchnorm"]!.contains("50% with noise"), model.metadata["batchnorm"]!)
    }

    /// A source mix replaces the data as what the statistics see: a mix whose only part turns
    /// every image into zeros gives the statistics of all-zero inputs, whatever the data, and the
    /// record names the mix.
    func testSourceMixReplacesTheDataInTheStatistics() throws {
        let model = try IGNModel(architecture: .tiny28, channels: 1)
        model.initialize(seed: 3)
        let data = TestData.shapes(count: 64, seed: 4)
        let zeros = Dataset(shape: model.sampleShape, values: [Float](repeating: 0, count: 64 * model.sampleShape.count))
        let store = model.network.store
        let names = store.layout.buffers.map(\.name).filter { $0.contains("running_") }
        func statistics() -> [Float] { names.flatMap { name in let b = store.buffer(name)!; return (0..<b.count).map { store.buffers[b.offset + $0] } } }
        let blank: SampleCorrupter = { sample, _, _ in [Float](repeating: 0, count: sample.count) }
        let mix = try SourceMix([SourceComponent(parsing: "1:blank")]) { _ in blank }
        try model.recalibrateBatchNorm(on: data, batches: 50, batch: 16, sources: mix, seed: 1, threads: 1)
        let fromMix = statistics()
        XCTAssertTrue(model.metadata["batchnorm"]!.contains("1.0:blank"), model.metadata["batchnorm"]!)
        try model.recalibrateBatchNorm(on: zeros, batches: 50, batch: 16, seed: 1, threads: 1)
        XCTAssertEqual(fromMix, statistics(), "the mix's blank images, not the data")
        try model.recalibrateBatchNorm(on: data, batches: 50, batch: 16, seed: 1, threads: 1)
        XCTAssertNotEqual(fromMix, statistics(), "the data itself differs")
    }
}
