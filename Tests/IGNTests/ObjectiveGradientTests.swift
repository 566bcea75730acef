import Basics
import Engine
@testable import IGN
import XCTest

/// The whole IGN loss gradient against central finite differences on tiny28.
///
/// Finite differences need the loss as a plain function of θ, so the detached quantities are held
/// at their values at θ₀ and f' is a separate frozen copy:
/// L(θ) = λr·D(f_θ(x), x) + λi·D(f'(f_θ(z)), f_θ(z)) + λt·tanh(T/(a·R₀))·a·R₀, T = −D(f_θ(fz₀), fz₀).
///
/// In float32 a single weight's finite difference drowns in rounding noise for the early layers,
/// so each tensor is checked along a random unit direction within it: (L(θ+εv) − L(θ−εv)) / 2ε = ⟨∇L, v⟩,
/// to within 3% of ‖∇L‖ (what float32 differences across thousands of ReLU kinks allow; a mis-routed
/// loss term is off by its whole size).
final class ObjectiveGradientTests: XCTestCase {
    func testGradientMatchesFiniteDifferencesL2() throws {
        try check(ObjectiveConfig(distance: .l2))
    }

    func testGradientMatchesFiniteDifferencesL1() throws {
        try check(ObjectiveConfig(distance: .l1))
    }

    /// Each loss on its own, so a routing mistake in one cannot hide behind the others.
    func testEachLossTermSeparately() throws {
        try check(ObjectiveConfig(distance: .l2, lambdaRec: 1, lambdaIdem: 0, lambdaTight: 0))
        try check(ObjectiveConfig(distance: .l2, lambdaRec: 0, lambdaIdem: 1, lambdaTight: 0))
        try check(ObjectiveConfig(distance: .l2, lambdaRec: 0, lambdaIdem: 0, lambdaTight: 1))
    }

    /// NAIGN: reconstruction, idempotence and the IMLE term, together and the IMLE term alone.
    func testNAIGNGradientMatchesFiniteDifferences() throws {
        var config = ObjectiveConfig(distance: .l2)
        config.kind = .naign
        try check(config)
        config.lambdaRec = 0; config.lambdaIdem = 0; config.lambdaIMLE = 1
        try check(config)
        config.distance = .l1; config.lambdaRec = 20; config.lambdaIdem = 20; config.lambdaIMLE = 20
        try check(config)
    }

    /// The local-mean term (edge tiles of 28×28 in blocks of 8 are 8×4, 4×8 and 4×4) on the samples
    /// flagged, with the other terms and alone.
    func testLocalMeanTermGradientMatchesFiniteDifferences() throws {
        for distance in [Distance.l2, .l1] {
            var config = ObjectiveConfig(distance: distance)
            config.lambdaLocalMean = 20
            try check(config, kept: [.localMeans, .nothing, .localMeans])
            config.lambdaRec = 0; config.lambdaIdem = 0; config.lambdaTight = 0
            try check(config, kept: [.nothing, .localMeans, .localMeans])
        }
    }

    /// The SURE term on the noisy samples (its probe pass included), with the other terms and alone.
    /// Alone, its gradient is the small difference of two passes' gradients each about 20 times larger
    /// (the probe's 1/ε), so float32 rounding and ReLU kinks weigh 20 times more than for the other
    /// terms: 15% of ‖∇L‖ there, where leaving out the probe pass's gradient is off by 2,000%.
    func testSURETermGradientMatchesFiniteDifferences() throws {
        for distance in [Distance.l2, .l1] {
            var config = ObjectiveConfig(distance: distance)
            config.lambdaSURE = 50
            try check(config, kept: [.localMeans, .nothing, .localMeans], noiseSigmas: [0.1, nil, 0.2])
            config.lambdaRec = 0; config.lambdaIdem = 0; config.lambdaTight = 0
            try check(config, kept: [.nothing, .localMeans, .localMeans], noiseSigmas: [nil, 0.2, 0.1], tolerance: 0.15)
        }
    }

    /// SURE against the true squared error it estimates, for three denoisers of known form on 200,000
    /// noisy values: the identity (SURE = s² in expectation; |f(z) − z|², what SURE corrects, is 0),
    /// a shrinkage α·z and a soft clamp 0.8·tanh(1.5z), within 3%.
    func testSUREEstimatesTheSquaredErrorAgainstTheCleanImage() throws {
        let shape = SampleShape(channels: 2, height: 100, width: 100), n = 10, sigma = 0.15
        var rng = RandomSource(seed: 11)
        let x = (0..<(n * shape.count)).map { _ in Float.random(in: -0.8...0.8, using: &rng) }
        let z = zip(x, rng.normals(n * shape.count, std: Float(2 * sigma))).map { $0 + $1 }
        let sure = try XCTUnwrap(SURE(sigmas: Array(repeating: sigma, count: n), z: z, batch: n, shape: shape))
        let denoisers: [(String, (Float) -> Float)] = [("identity", { $0 }), ("shrinkage", { 0.7 * $0 }), ("tanh", { 0.8 * Foundation.tanh(1.5 * $0) })]
        for (name, f) in denoisers {
            let fz = z.map(f), probed = sure.perturbed(z).map(f)
            let estimate = sure.perSample(fz, probed, z).reduce(0, +) / Double(n)
            let truth = zip(fz, x).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(x.count)
            XCTAssertEqual(estimate, truth, accuracy: 0.03 * truth, name)
        }
        XCTAssertNil(SURE(sigmas: [nil, 0], z: x, batch: 2, shape: shape), "no noisy sample: no estimate")
    }

    /// The σ each source's noise has, for the SURE term: unclamped Gaussian noise only.
    func testNoiseSigmaOfEachSource() throws {
        XCTAssertEqual(try SourceComponent(parsing: "0.2:gaussian:0.1").noiseSigma, 0.1)
        XCTAssertEqual(try XCTUnwrap(try SourceComponent(parsing: "1:gaussian:0.3,gaussian:0.4").noiseSigma), 0.5, accuracy: 1e-12)
        XCTAssertEqual(try SourceComponent(parsing: "1:gaussian:0.3").kept, .localMeans)
        for spec in ["1:model", "1:noise:0.1", "1:gaussian:0.1,noise:0.1", "1:grayscale", "1:grayscale,gaussian:0.1", "1:sketch"] {
            XCTAssertNil(try SourceComponent(parsing: spec).noiseSigma, spec)
        }
    }

    /// Block means worked out by hand: a 3×3 image in blocks of 2 has tiles of 4, 2, 2 and 1 pixels.
    func testLocalMeansByHand() throws {
        let a: [Float] = [1, 2, 3,
                          4, 5, 6,
                          7, 8, 9]
        let b = [Float](repeating: 0, count: 9)
        let shape = SampleShape(channels: 1, height: 3, width: 3)
        // Tile means 3, 4.5, 7.5, 9: L1 is their mean, L2 the mean of their squares.
        let l1 = LocalMeans(block: 2, shape: shape, distance: .l1).perSample(a, b, batch: 1)
        XCTAssertEqual(l1[0], (3 + 4.5 + 7.5 + 9) / 4, accuracy: 1e-9)
        let l2 = LocalMeans(block: 2, shape: shape, distance: .l2).perSample(a, b, batch: 1)
        XCTAssertEqual(l2[0], (9 + 20.25 + 56.25 + 81) / 4, accuracy: 1e-9)
        // Equal means, different pixels: nothing to pull.
        let shuffled: [Float] = [2, 1, 6, 5, 4, 3, 8, 7, 9]
        XCTAssertEqual(LocalMeans(block: 2, shape: shape, distance: .l1).perSample(a, shuffled, batch: 1)[0], 0, accuracy: 1e-12)
        // The L1 gradient spreads sign/tiles over each tile's pixels.
        var grad = [Float](repeating: 0, count: 9)
        LocalMeans(block: 2, shape: shape, distance: .l1).accumulateGradient(a, b, weights: [4], grad: &grad, batch: 1)
        XCTAssertEqual(grad, [0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.5, 0.5, 1])
    }

    /// The consistency term on gray and sketch samples (tiny28 is 1-channel: its luminance is itself),
    /// with the other terms and alone; the local-mean term beside it.
    func testConsistencyTermGradientMatchesFiniteDifferences() throws {
        for distance in [Distance.l2, .l1] {
            var config = ObjectiveConfig(distance: distance)
            config.lambdaConsistency = 20
            try check(config, kept: [.edges, .nothing, .luminance])
            config.lambdaLocalMean = 5
            try check(config, kept: [.localMeans, .edges, .luminance])
            config.lambdaRec = 0; config.lambdaIdem = 0; config.lambdaTight = 0; config.lambdaLocalMean = 0
            try check(config, kept: [.edges, .luminance, .edges])
        }
    }

    /// The matching term (each gray or sketch z's f(z) pulled toward its matched x), with the others and alone.
    func testMatchingTermGradientMatchesFiniteDifferences() throws {
        for distance in [Distance.l2, .l1] {
            var config = ObjectiveConfig(distance: distance)
            config.lambdaMatch = 20; config.lambdaConsistency = 5
            try check(config, kept: [.edges, .nothing, .luminance])
            config.lambdaRec = 0; config.lambdaIdem = 0; config.lambdaTight = 0; config.lambdaConsistency = 0
            try check(config, kept: [.luminance, .edges, .edges])
        }
    }

    /// Matching by hand: z is the luminance of x_1 (1 channel: the image itself) and the sketch of
    /// x_2; each is paired with that x, unless z was made from that x's training image, when the
    /// next nearest is taken; noise is paired with nothing.
    func testMatchingPairsEachCorruptedSampleWithTheNearestOtherImage() throws {
        let shape = SampleShape(channels: 1, height: 4, width: 4), n = 3
        var rng = RandomSource(seed: 3)
        let x = rng.normals(n * 16).map { Foundation.tanh($0) }
        let twins = CorruptionTwins(shape: shape, distance: .l1)
        let sketch = twins.measurement(x, sample: 2, kind: .edges, batch: n)!
        var z = rng.normals(n * 16)
        for p in 0..<16 { z[p] = x[16 + p]; z[32 + p] = sketch[p] }
        let kinds: [KeptProperty] = [.luminance, .nothing, .edges]
        let free = twins.matches(for: z, kinds: kinds, among: x, origins: nil, batch: n)
        XCTAssertEqual(free.map(\.z), [0, 2])
        XCTAssertEqual(free.map(\.x), [1, 2])
        // x_1 and x_2 are the training images 11 and 12; z_0 was made from 11, z_2 from 12.
        let origins = BatchOrigins(x: [10, 11, 12], z: [11, nil, 12])
        let held = twins.matches(for: z, kinds: kinds, among: x, origins: origins, batch: n)
        XCTAssertEqual(held.map(\.z), [0, 2])
        XCTAssertFalse(held.contains { $0.z == 0 && $0.x == 1 }, "never z's own image")
        XCTAssertFalse(held.contains { $0.z == 2 && $0.x == 2 }, "never z's own image")
    }

    /// What each source keeps: additive noise its local means, grayscale its luminance, a sobel sketch
    /// its edges; the model's noise, chains and other corruptions nothing the terms can use.
    func testWhatEachSourceKeeps() throws {
        XCTAssertEqual(try SourceComponent(parsing: "0.2:noise:0.1").kept, .localMeans)
        XCTAssertEqual(try SourceComponent(parsing: "1:noise:0.1,noise:0.05").kept, .localMeans)
        XCTAssertEqual(try SourceComponent(parsing: "1:grayscale").kept, .luminance)
        XCTAssertEqual(try SourceComponent(parsing: "1:sketch").kept, .edges)
        XCTAssertEqual(try SourceComponent(parsing: "1:sketch:sobel").kept, .edges)
        for spec in ["1:model", "1:grayscale,noise:0.1", "1:sketch:canny", "1:blur:1.5"] {
            XCTAssertEqual(try SourceComponent(parsing: spec).kept, .nothing, spec)
        }
    }

    /// The autoencoder's shortcut (no noise-side term: only f(x) runs) against the full step, whose
    /// noise-side terms a negligible weight keeps on: the same loss and gradient.
    func testAutoencoderStepMatchesFullStep() throws {
        func step(_ config: ObjectiveConfig) throws -> (Losses, [Float]) {
            let model = try IGNModel(architecture: .tiny28, channels: 1)
            model.initialize(seed: 5)
            var rng = RandomSource(seed: 6)
            let count = 4 * model.sampleShape.count
            let x = rng.normals(count).map { Foundation.tanh($0) }, z = rng.normals(count)
            let losses = Objective(model: model, config: config, threads: 2).lossAndGradient(x: x, z: z, batch: 4)
            let store = model.network.store
            return (losses, Array(UnsafeBufferPointer(start: store.gradients, count: store.count)))
        }
        let plain = ObjectiveConfig(lambdaRec: 20, lambdaIdem: 0, lambdaTight: 0)
        XCTAssertFalse(plain.usesNoise)
        var full = plain
        full.lambdaTight = 1e-30
        XCTAssertTrue(full.usesNoise)
        let (shortLosses, shortGradient) = try step(plain), (fullLosses, fullGradient) = try step(full)
        XCTAssertEqual(shortLosses.rec, fullLosses.rec, accuracy: 1e-6 * fullLosses.rec)
        XCTAssertEqual(shortLosses.total, fullLosses.total, accuracy: 1e-5 * fullLosses.total)
        let norm = fullGradient.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let gap = zip(shortGradient, fullGradient).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        XCTAssertGreaterThan(norm, 0)
        XCTAssertLessThan(gap, 1e-5 * norm)
    }

    /// Configs written before NAIGN existed read back as IGN; the new fields round-trip.
    func testObjectiveConfigDecodesOldRecords() throws {
        let old = #"{"lambdaRec":20,"lambdaIdem":20,"lambdaTight":2.5,"tightA":1.5,"distance":"l1"}"#
        let config = try JSONDecoder().decode(ObjectiveConfig.self, from: Data(old.utf8))
        XCTAssertEqual(config, ObjectiveConfig())
        var naign = ObjectiveConfig(); naign.kind = .naign; naign.lambdaIMLE = 7
        XCTAssertEqual(try JSONDecoder().decode(ObjectiveConfig.self, from: JSONEncoder().encode(naign)), naign)
        var means = ObjectiveConfig(); means.lambdaLocalMean = 3; means.localMeanBlock = 4; means.lambdaConsistency = 2; means.lambdaMatch = 1
        means.lambdaSURE = 5
        XCTAssertEqual(try JSONDecoder().decode(ObjectiveConfig.self, from: JSONEncoder().encode(means)), means)
    }

    private func check(_ config: ObjectiveConfig, kept: [KeptProperty] = [], noiseSigmas: [Double?] = [], tolerance: Double = 3e-2,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let n = 3, distance = config.distance
        let model = try IGNModel(architecture: .tiny28, channels: 1)
        model.initialize(seed: 3)
        // Conv weights at std 0.3 rather than 0.02, so a small step crosses few ReLU kinks.
        for v in model.network.store.layout.parameters where v.shape.count == 4 {
            for k in 0..<v.count { model.network.store.parameters[v.offset + k] *= 15 }
        }
        let frozen = try IGNModel(architecture: .tiny28, channels: 1)
        try frozen.loadState(SafeTensors.File(tensors: model.stateTensors()), path: "model")
        let shape = model.sampleShape
        var rng = RandomSource(seed: 4)
        let x = rng.normals(n * shape.count).map { Foundation.tanh($0) }, z = rng.normals(n * shape.count)

        _ = Objective(model: model, config: config, threads: 1).lossAndGradient(x: x, z: z, batch: n, kept: kept, noiseSigmas: noiseSigmas)
        let store = model.network.store
        let analytic = Array(UnsafeBufferPointer(start: store.gradients, count: store.count))

        // Values at θ₀ that the objective detaches.
        let fz0 = run(frozen, z, n), rec0 = distance.perSample(run(frozen, x, n), x, batch: n, shape: shape)
        func loss() -> Double {
            let fx = run(model, x, n), fz = run(model, z, n)
            let frozenFz = run(frozen, fz, n), ffz0 = run(model, fz0, n)
            let rec = distance.perSample(fx, x, batch: n, shape: shape)
            let idem = distance.perSample(frozenFz, fz, batch: n, shape: shape)
            let t = distance.perSample(ffz0, fz0, batch: n, shape: shape).map { -$0 }
            var total = 0.0
            for i in 0..<n {
                let aR = Double(config.tightA) * rec0[i]
                total += Double(config.lambdaRec) * rec[i] + Double(config.lambdaIdem) * idem[i]
                if config.kind == .ign {
                    total += Double(config.lambdaTight) * Foundation.tanh(t[i] / aR) * aR
                } else {
                    let xi = Array(x[(i * shape.count)..<((i + 1) * shape.count)])
                    let nearest = (0..<n).map { j in
                        distance.perSample(Array(fz[(j * shape.count)..<((j + 1) * shape.count)]), xi, batch: 1, shape: shape)[0]
                    }.min()!
                    total += Double(config.lambdaIMLE) * nearest
                }
                if config.lambdaLocalMean != 0, kept.indices.contains(i), kept[i] == .localMeans {
                    let means = { (v: [Float]) in self.blockMeans(Array(v[(i * shape.count)..<((i + 1) * shape.count)]), side: 28, block: config.localMeanBlock) }
                    let gaps = zip(means(fz), means(z)).map { $0 - $1 }
                    total += Double(config.lambdaLocalMean) * gaps.reduce(0) { $0 + (distance == .l1 ? abs($1) : $1 * $1) } / Double(gaps.count)
                }
            }
            if config.lambdaMatch != 0 {
                for m in CorruptionTwins(shape: shape, distance: distance).matches(for: z, kinds: kept, among: x, origins: nil, batch: n) {
                    let a = Array(fz[(m.z * shape.count)..<((m.z + 1) * shape.count)]), b = Array(x[(m.x * shape.count)..<((m.x + 1) * shape.count)])
                    total += Double(config.lambdaMatch) * distance.perSample(a, b, batch: 1, shape: shape)[0]
                }
            }
            if config.lambdaConsistency != 0 {
                let twins = CorruptionTwins(shape: shape, distance: distance).perSample(fz, z, kinds: kept, batch: n)
                total += Double(config.lambdaConsistency) * twins.reduce(0, +)
            }
            // One channel: the objective's channel-major batch is this NCHW one.
            if config.lambdaSURE != 0, let sure = SURE(sigmas: noiseSigmas, z: z, batch: n, shape: shape) {
                total += Double(config.lambdaSURE) * sure.perSample(fz, run(model, sure.perturbed(z), n), z).reduce(0, +)
            }
            return total / Double(n)
        }

        let eps: Float = 1e-4
        var checked = 0, worst = 0.0
        for view in store.layout.parameters {
            // A unit direction, so each weight moves by about ε/√count: well inside the linear regime.
            var v = rng.normals(view.count)
            let length = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / length }
            let projected = zip(v, analytic[view.offset..<(view.offset + view.count)]).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let saved = Array(UnsafeBufferPointer(start: store.parameters + view.offset, count: view.count))
            func shift(_ s: Float) { for k in 0..<view.count { store.parameters[view.offset + k] = saved[k] + s * v[k] } }
            shift(eps); let up = loss()
            shift(-eps); let down = loss()
            shift(0)
            let numeric = (up - down) / Double(2 * eps)
            let norm = analytic[view.offset..<(view.offset + view.count)].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            // Relative to ‖∇‖, the largest the directional derivative along a unit vector can be.
            if norm > 1e-4 {
                checked += 1
                worst = max(worst, abs(numeric - projected) / norm)
            }
        }
        XCTAssertLessThan(worst, tolerance, "(\(config.kind) λ \(config.lambdaRec)/\(config.lambdaIdem)/\(config.lambdaTight)/\(config.lambdaIMLE), \(distance))", file: file, line: line)
        XCTAssertGreaterThan(checked, store.layout.parameters.count / 2, "most tensors must have a non-zero gradient", file: file, line: line)
    }

    /// The means of a square single-channel image's `block`×`block` tiles, the edge ones smaller, row by row.
    private func blockMeans(_ image: [Float], side: Int, block: Int) -> [Double] {
        stride(from: 0, to: side, by: block).flatMap { top in
            stride(from: 0, to: side, by: block).map { left in
                let rows = top..<min(top + block, side), columns = left..<min(left + block, side)
                let sum = rows.reduce(0.0) { s, y in columns.reduce(s) { $0 + Double(image[y * side + $1]) } }
                return sum / Double(rows.count * columns.count)
            }
        }
    }

    /// f in train mode (batch statistics, running statistics untouched), NCHW in and out.
    private func run(_ model: IGNModel, _ input: [Float], _ n: Int) -> [Float] {
        Projector(model: model, threads: 1).apply(input, count: n, steps: 1, trainMode: true)[0]
    }
}
