import Engine
import Foundation

/// Which game the losses play.
public enum ObjectiveKind: String, Codable, CaseIterable, Sendable {
    /// IGN (Shocher et al., ICLR 2024): reconstruction, idempotence and the adversarial tightness term.
    case ign
    /// Non-adversarial IGN (Al-Jaff et al. 2025, arXiv 2511.02614): reconstruction, idempotence and,
    /// in place of tightness, an IMLE term that pulls, for each data image, the nearest f(z) of the
    /// batch toward it.
    case naign
}

/// Weights and distance of the IGN objective (Shocher et al., ICLR 2024) or of its non-adversarial variant.
public struct ObjectiveConfig: Codable, Equatable, Sendable {
    public var kind: ObjectiveKind = .ign
    /// Weight of NAIGN's IMLE term (unused by `.ign`).
    public var lambdaIMLE: Float = 20
    public var lambdaRec: Float = 20
    public var lambdaIdem: Float = 20
    public var lambdaTight: Float = 2.5
    /// The tightness clamp's `a`: L_tight = tanh(T / (a·R))·a·R.
    public var tightA: Float = 1.5
    public var distance: Distance = .l1
    /// Weight of the local-mean consistency term (0: off): for each z that is a training image
    /// under zero-mean noise (``SourceComponent/keepsLocalMeans``), D between the block means of
    /// f(z) and of z. The noise leaves those means as they were, so f may remove the noise but not
    /// shift brightness or colour; the term compares f(z) with its own input only, never with a clean image.
    public var lambdaLocalMean: Float = 0
    /// Side of the square blocks (pixels) whose means that term compares; edge blocks may be smaller.
    public var localMeanBlock: Int = 8
    /// Weight of the consistency term for grayscale and sketch sources (0: off): for each z that is a
    /// training image made gray (``KeptProperty/luminance``) or drawn as a sobel sketch
    /// (``KeptProperty/edges``), D between that corruption's differentiable twin applied to f(z) and z
    /// itself. f may add colour and fill regions but must keep what the corrupted image still says
    /// of the image; like the local-mean term it compares f(z) with its own input only.
    public var lambdaConsistency: Float = 0
    /// Weight of the matching term for grayscale and sketch sources (0: off), conditional IMLE
    /// (Li et al. 2020) in the corruption's terms: each gray or sketch z is paired with the batch's
    /// data image whose gray version or sketch (the twin's) is nearest to z, never the image z was
    /// made from, and D(f(z), that image) pulls f(z) toward it. So f learns what images with such
    /// a lightness or such edges look like, from other images: the objective stays unpaired.
    public var lambdaMatch: Float = 0
    /// Weight of the SURE term for noisy sources (0: off): for each z that is a training image under
    /// unclamped Gaussian noise of known σ (``SourceComponent/noiseSigma``), Stein's unbiased estimate
    /// of the mean squared error between f(z) and the clean image z was made from,
    /// |f(z) − z|²/N − s² + 2s²·div f(z)/N (s = 2σ on the [-1, 1] scale), the divergence by one
    /// Monte-Carlo probe (Ramani et al. 2008). It uses z and σ alone, never the clean image: the
    /// noise's counterpart of the consistency term, and it penalises noise that f passes through.
    public var lambdaSURE: Float = 0

    /// Whether any term acts on the noise side: false for a plain autoencoder (λidem, the third
    /// term's weight and the local-mean weight all 0), whose steps then skip the f(z) and f(f(z)) passes.
    public var usesNoise: Bool {
        lambdaIdem != 0 || (kind == .ign ? lambdaTight : lambdaIMLE) != 0 || lambdaLocalMean != 0 || lambdaConsistency != 0
            || lambdaMatch != 0 || lambdaSURE != 0
    }

    public init(distance: Distance = .l1, lambdaRec: Float = 20, lambdaIdem: Float = 20, lambdaTight: Float = 2.5, tightA: Float = 1.5) {
        self.distance = distance
        self.lambdaRec = lambdaRec; self.lambdaIdem = lambdaIdem; self.lambdaTight = lambdaTight; self.tightA = tightA
    }

    private enum CodingKeys: String, CodingKey {
        case kind, lambdaIMLE, lambdaRec, lambdaIdem, lambdaTight, tightA, distance, lambdaLocalMean, localMeanBlock, lambdaConsistency, lambdaMatch, lambdaSURE
    }

    /// Reads configs written before `kind`, `lambdaIMLE` and the local-mean and consistency terms existed as IGN ones without those terms.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decodeIfPresent(ObjectiveKind.self, forKey: .kind) ?? .ign
        lambdaIMLE = try c.decodeIfPresent(Float.self, forKey: .lambdaIMLE) ?? 20
        lambdaRec = try c.decode(Float.self, forKey: .lambdaRec)
        lambdaIdem = try c.decode(Float.self, forKey: .lambdaIdem)
        lambdaTight = try c.decode(Float.self, forKey: .lambdaTight)
        tightA = try c.decode(Float.self, forKey: .tightA)
        distance = try c.decode(Distance.self, forKey: .distance)
        lambdaLocalMean = try c.decodeIfPresent(Float.self, forKey: .lambdaLocalMean) ?? 0
        localMeanBlock = try c.decodeIfPresent(Int.self, forKey: .localMeanBlock) ?? 8
        lambdaConsistency = try c.decodeIfPresent(Float.self, forKey: .lambdaConsistency) ?? 0
        lambdaMatch = try c.decodeIfPresent(Float.self, forKey: .lambdaMatch) ?? 0
        lambdaSURE = try c.decodeIfPresent(Float.self, forKey: .lambdaSURE) ?? 0
    }
}

extension Distance: Codable {}

/// Which training images a batch was made from: each x's index in the dataset, and for each z that
/// is a corrupted training image, that image's (nil for noise).
public struct BatchOrigins: Sendable {
    public var x: [Int], z: [Int?]
    public init(x: [Int], z: [Int?]) { self.x = x; self.z = z }
}

/// The batch means of the losses and their weighted sum (`tight` is 0 for NAIGN, `imle` for IGN;
/// `localMean`, `consistency`, `match` and `sure` are 0 when those terms are off).
public struct Losses: Equatable, Sendable {
    public var rec: Float, idem: Float, tight: Float, total: Float
    public var imle: Float = 0
    public var localMean: Float = 0
    public var consistency: Float = 0
    public var match: Float = 0
    /// The SURE estimate of the noisy samples' mean squared error against their clean images (0 for the others).
    public var sure: Float = 0

    /// The losses that apply to `kind`, for logs, with `digits` decimals.
    public func summary(_ kind: ObjectiveKind, digits: Int = 4) -> String {
        let f = { (x: Float) in String(format: "%.\(digits)f", x) }
        let third = kind == .ign ? "tight \(f(tight))" : "imle \(f(imle))"
        return "rec \(f(rec)) idem \(f(idem)) \(third) mean \(f(localMean)) keep \(f(consistency)) match \(f(match)) sure \(f(sure)) total \(f(total))"
    }
}

/// One evaluation of the IGN objective and its gradient with respect to θ.
///
/// With f in train mode: fx = f(x), fz = f(z), fz' = detach(fz), ffz = f(fz'), f'fz = f'(fz) where f' is
/// f frozen at the start of the step. Per sample: rec = D(fx, x), idem = D(f'fz, fz),
/// T = −D(ffz, fz'), R = detach(rec), tight = tanh(T/(a·R))·a·R.
///
/// f' has f's weights and, in train mode, the batch statistics of its own input, so f'fz and ffz
/// are the same numbers: one forward pass serves both, and only the gradients are routed apart —
/// the tightness gradient reaches θ through that outer pass, the idempotence gradient only
/// through its input fz and on into the inner pass f(z).
///
/// NAIGN drops tightness (the outer pass then moves no parameter) and adds, per data sample x_i,
/// imle = D(fz_j, x_i) for the j of the batch's f(z) nearest x_i; it reaches θ through the inner pass.
///
/// The local-mean term, when on, adds per z sample that keeps its local means
/// mean = D(blockMeans(fz), blockMeans(z)), 0 for the others; the consistency term per gray or sketch
/// z sample keep = D(twin(fz), z) (``CorruptionTwins``), and the matching term per gray or sketch z
/// match = D(fz, x_k) for the x_k of the batch whose twin is nearest z. All reach θ through the inner pass.
/// The SURE term per noisy z (``SURE``) reaches θ through the inner pass and a fourth pass f(z + εb).
public final class Objective {
    public let model: IGNModel
    public var config: ObjectiveConfig
    private let traceX = Trace(), traceZ = Trace(), traceFZ = Trace(), traceProbed = Trace()
    /// Threads and scratch of its passes (set `workspace.profile` to time its layers).
    public let workspace: Workspace
    private let gradFX = FloatBuffer(count: 0), gradFFZ = FloatBuffer(count: 0)
    private let gradThroughFrozen = FloatBuffer(count: 0), gradFZ = FloatBuffer(count: 0)
    private let probedZ = FloatBuffer(count: 0), gradProbed = FloatBuffer(count: 0)

    /// An objective whose passes run on `threads` threads.
    public init(model: IGNModel, config: ObjectiveConfig = ObjectiveConfig(), threads: Int) {
        self.model = model
        self.config = config
        workspace = Workspace(threads: threads)
    }

    /// Computes the losses for channel-major batches `x` and `z` of `n` samples and writes
    /// their gradient into the model's gradient array (overwriting it). Updates BatchNorm running
    /// statistics three times, by f(x), f(z) and f(fz'), in that order. Without a noise-side
    /// term (``ObjectiveConfig/usesNoise``) only f(x) runs: a plain autoencoder's step.
    /// `kept[i]` says what z sample i keeps of its training image, for the local-mean, consistency and
    /// matching terms (empty: nothing, as for noise); `origins` says which training images x and z
    /// were made from, so that the matching term never pairs a z with its own image (nil: none shared);
    /// `noiseSigmas[i]` is z sample i's Gaussian noise σ for the SURE term (nil or absent: not noisy).
    public func lossAndGradient(x: UnsafePointer<Float>, z: UnsafePointer<Float>, batch n: Int,
                                kept: [KeptProperty] = [], origins: BatchOrigins? = nil, noiseSigmas: [Double?] = []) -> Losses {
        let network = model.network, shape = model.sampleShape, count = n * shape.count
        let c = config, d = c.distance
        network.store.zeroGradients()
        let mode = ForwardMode.train(updateRunningStats: true)
        let fx = UnsafePointer(network.forward(x, batch: n, mode: mode, trace: traceX, workspace: workspace))
        guard c.usesNoise else { return reconstructionOnly(fx, x, batch: n) }
        let fz = UnsafePointer(network.forward(z, batch: n, mode: mode, trace: traceZ, workspace: workspace))
        let ffz = UnsafePointer(network.forward(fz, batch: n, mode: mode, trace: traceFZ, workspace: workspace))
        // SURE's probe pass f(z + εb): running statistics left alone, as the pass repeats f(z).
        let sure = c.lambdaSURE == 0 ? nil : SURE(sigmas: noiseSigmas, z: z, batch: n, shape: shape)
        var fzProbed: UnsafePointer<Float>?
        if let sure {
            probedZ.reserve(count)
            sure.perturb(z, into: probedZ.pointer)
            fzProbed = UnsafePointer(network.forward(probedZ.pointer, batch: n, mode: .train(updateRunningStats: false),
                                                     trace: traceProbed, workspace: workspace))
        }

        let rec = d.perSample(fx, x, batch: n, shape: shape)
        let idem = d.perSample(ffz, fz, batch: n, shape: shape)  // also −T: f'fz and ffz coincide
        let a = Double(c.tightA)
        var tight = [Double](repeating: 0, count: n), dTight = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let scale = a * rec[i], t = Foundation.tanh(-idem[i] / scale)
            tight[i] = t * scale
            dTight[i] = Float(1 - t * t)  // d tight_i / d T_i
        }
        let mean = { (v: [Double]) in Float(v.reduce(0, +) / Double(n)) }
        let nearest = c.kind == .naign ? Objective.nearest(fz, to: x, batch: n, shape: shape, distance: d) : []
        let kinds = (0..<n).map { kept.indices.contains($0) ? kept[$0] : .nothing }
        let held = kinds.map { c.lambdaLocalMean != 0 && $0 == .localMeans }
        let twinned = kinds.map { c.lambdaConsistency != 0 && $0.hasTwin }
        let twins = CorruptionTwins(shape: shape, distance: d)
        let localMeans = LocalMeans(block: c.localMeanBlock, shape: shape, distance: d)
        var losses = Losses(rec: mean(rec), idem: mean(idem), tight: 0, total: 0)
        if held.contains(true) {
            losses.localMean = mean(zip(localMeans.perSample(fz, z, batch: n), held).map { $1 ? $0 : 0 })
        }
        if c.kind == .ign {
            losses.tight = mean(tight)
            losses.total = c.lambdaRec * losses.rec + c.lambdaIdem * losses.idem + c.lambdaTight * losses.tight
        } else {
            losses.imle = mean(nearest.map(\.distance))
            losses.total = c.lambdaRec * losses.rec + c.lambdaIdem * losses.idem + c.lambdaIMLE * losses.imle
        }
        if twinned.contains(true) {
            losses.consistency = mean(twins.perSample(fz, z, kinds: kinds, batch: n))
        }
        let matches = c.lambdaMatch == 0 ? [] : twins.matches(for: z, kinds: kinds, among: x, origins: origins, batch: n)
        if !matches.isEmpty {
            losses.match = Float(matches.reduce(0.0) { total, m in
                total + d.perSample(sample(fz, m.z, batch: n), sample(x, m.x, batch: n), batch: 1, shape: shape)[0]
            } / Double(n))
        }
        if let sure, let fzProbed { losses.sure = mean(sure.perSample(fz, fzProbed, z)) }
        losses.total += c.lambdaLocalMean * losses.localMean + c.lambdaConsistency * losses.consistency + c.lambdaMatch * losses.match
            + c.lambdaSURE * losses.sure

        for buffer in [gradFX, gradFFZ, gradThroughFrozen, gradFZ] {
            buffer.reserve(count)
            buffer.zero(count)
        }
        let batchMean = 1 / Float(n)
        // Reconstruction: through f(x).
        d.accumulateGradient(fx, x, weights: Array(repeating: c.lambdaRec * batchMean, count: n),
                             gradA: gradFX.pointer, gradB: nil, batch: n, shape: shape)
        network.backward(gradFX.pointer, trace: traceX, workspace: workspace, parameterGradients: true, inputGradient: false)

        // Tightness: through the outer pass f(fz') only; T = −D(ffz, fz').
        if c.kind == .ign {
            d.accumulateGradient(ffz, fz, weights: dTight.map { -c.lambdaTight * batchMean * $0 },
                                 gradA: gradFFZ.pointer, gradB: nil, batch: n, shape: shape)
            network.backward(gradFFZ.pointer, trace: traceFZ, workspace: workspace, parameterGradients: true, inputGradient: false)
        }

        // Idempotence: both arguments of D(f'(fz), fz) depend on fz; f' passes gradient to its input only.
        d.accumulateGradient(ffz, fz, weights: Array(repeating: c.lambdaIdem * batchMean, count: n),
                             gradA: gradThroughFrozen.pointer, gradB: gradFZ.pointer, batch: n, shape: shape)
        let viaFrozen = network.backward(gradThroughFrozen.pointer, trace: traceFZ, workspace: workspace,
                                         parameterGradients: false, inputGradient: true)!
        let g = gradFZ.pointer
        for i in 0..<count { g[i] += viaFrozen[i] }
        // Local means: f(z) against its own input z.
        if held.contains(true) {
            localMeans.accumulateGradient(fz, z, weights: held.map { $0 ? c.lambdaLocalMean * batchMean : 0 }, grad: g, batch: n)
        }
        // Consistency: the gray or sketch z against the same corruption's twin of f(z).
        if twinned.contains(true) {
            twins.accumulateGradient(fz, z, kinds: kinds, weights: twinned.map { $0 ? c.lambdaConsistency * batchMean : 0 },
                                     grad: g, batch: n)
        }
        // SURE: through f(z) and through the probe pass f(z + εb).
        if let sure {
            gradProbed.reserve(count)
            gradProbed.zero(count)
            sure.accumulateGradient(fz, z, weight: c.lambdaSURE * batchMean, gradFZ: g, gradProbed: gradProbed.pointer)
            network.backward(gradProbed.pointer, trace: traceProbed, workspace: workspace, parameterGradients: true, inputGradient: false)
        }
        // IMLE: each x_i pulls its nearest fz_j (several x may pull the same one).
        for (i, match) in nearest.enumerated() { pull(fz, match.index, toward: x, i, weight: c.lambdaIMLE * batchMean, gradient: g, batch: n) }
        // Matching: each gray or sketch z's f(z) is pulled toward its matched data image.
        for m in matches { pull(fz, m.z, toward: x, m.x, weight: c.lambdaMatch * batchMean, gradient: g, batch: n) }
        network.backward(g, trace: traceZ, workspace: workspace, parameterGradients: true, inputGradient: false)
        return losses
    }

    /// Adds `weight · ∂D(fz_j, x_i)/∂fz_j` into `gradient` (channel-major batches of `n`).
    private func pull(_ fz: UnsafePointer<Float>, _ j: Int, toward x: UnsafePointer<Float>, _ i: Int, weight: Float,
                      gradient: UnsafeMutablePointer<Float>, batch n: Int) {
        let shape = model.sampleShape, plane = shape.height * shape.width, w = weight / Float(shape.count)
        for ch in 0..<shape.channels {
            let a = fz + (ch * n + j) * plane, b = x + (ch * n + i) * plane, out = gradient + (ch * n + j) * plane
            for p in 0..<plane {
                let diff = a[p] - b[p]
                switch config.distance {
                case .l1: out[p] += diff > 0 ? w : (diff < 0 ? -w : 0)
                case .l2: out[p] += 2 * w * diff
                }
            }
        }
    }

    /// Sample i of a channel-major batch of `n`, sample-major (C×H×W).
    private func sample(_ batch: UnsafePointer<Float>, _ i: Int, batch n: Int) -> [Float] {
        let plane = model.sampleShape.height * model.sampleShape.width
        return (0..<model.sampleShape.channels).flatMap { ch in UnsafeBufferPointer(start: batch + (ch * n + i) * plane, count: plane) }
    }

    /// The autoencoder's step: D(f(x), x) and its gradient alone.
    private func reconstructionOnly(_ fx: UnsafePointer<Float>, _ x: UnsafePointer<Float>, batch n: Int) -> Losses {
        let network = model.network, shape = model.sampleShape, c = config
        let rec = c.distance.perSample(fx, x, batch: n, shape: shape).reduce(0, +) / Double(n)
        gradFX.reserve(n * shape.count)
        gradFX.zero(n * shape.count)
        c.distance.accumulateGradient(fx, x, weights: Array(repeating: c.lambdaRec / Float(n), count: n),
                                      gradA: gradFX.pointer, gradB: nil, batch: n, shape: shape)
        network.backward(gradFX.pointer, trace: traceX, workspace: workspace, parameterGradients: true, inputGradient: false)
        return Losses(rec: Float(rec), idem: 0, tight: 0, total: c.lambdaRec * Float(rec))
    }

    /// For each sample x_i of a channel-major batch, the index of the nearest sample of `candidates`
    /// (same batch size and layout) and its distance; ties go to the lower index.
    static func nearest(_ candidates: UnsafePointer<Float>, to x: UnsafePointer<Float>, batch n: Int, shape: SampleShape,
                        distance: Distance) -> [(index: Int, distance: Double)] {
        let plane = shape.height * shape.width
        return (0..<n).map { i in
            var best = (index: 0, distance: Double.infinity)
            for j in 0..<n {
                var sum = 0.0
                for ch in 0..<shape.channels {
                    let a = candidates + (ch * n + j) * plane, b = x + (ch * n + i) * plane
                    for p in 0..<plane {
                        let diff = Double(a[p]) - Double(b[p])
                        sum += distance == .l1 ? abs(diff) : diff * diff
                    }
                }
                let mean = sum / Double(shape.count)
                if mean < best.distance { best = (j, mean) }
            }
            return best
        }
    }
}

/// D between the means of square blocks of two channel-major batches, per sample: each channel is
/// cut into `block`×`block` tiles from the top left (the last row and column of tiles may be
/// smaller), and D_i = mean over sample i's channels and tiles of |mean_a − mean_b| (L1) or its square (L2).
struct LocalMeans {
    let block: Int, shape: SampleShape, distance: Distance

    private var tilesDown: Int { (shape.height + block - 1) / block }
    private var tilesAcross: Int { (shape.width + block - 1) / block }
    private var tilesPerSample: Int { shape.channels * tilesDown * tilesAcross }

    /// Calls `body(sample, tile, mean of a − mean of b, pixels in the tile, visit)` for every tile, where
    /// `visit` walks the tile's element offsets.
    private func forEachTile(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, batch n: Int,
                             _ body: (Int, Float, Int, ((Int) -> Void) -> Void) -> Void) {
        let plane = shape.height * shape.width
        for ch in 0..<shape.channels {
            for sample in 0..<n {
                let base = (ch * n + sample) * plane
                for ty in 0..<tilesDown {
                    for tx in 0..<tilesAcross {
                        let rows = (ty * block)..<min((ty + 1) * block, shape.height)
                        let columns = (tx * block)..<min((tx + 1) * block, shape.width)
                        let visit = { (f: (Int) -> Void) in
                            for y in rows { for x in columns { f(base + y * shape.width + x) } }
                        }
                        var sum = 0.0
                        visit { sum += Double(a[$0]) - Double(b[$0]) }
                        let pixels = rows.count * columns.count
                        body(sample, Float(sum / Double(pixels)), pixels, visit)
                    }
                }
            }
        }
    }

    func perSample(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, batch n: Int) -> [Double] {
        var sums = [Double](repeating: 0, count: n)
        forEachTile(a, b, batch: n) { sample, difference, _, _ in
            sums[sample] += distance == .l1 ? Double(abs(difference)) : Double(difference * difference)
        }
        return sums.map { $0 / Double(tilesPerSample) }
    }

    /// Adds `Σ_i weight_i · ∂D_i/∂a` into `grad` (the same layout as `a`).
    func accumulateGradient(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, weights: [Float],
                            grad: UnsafeMutablePointer<Float>, batch n: Int) {
        forEachTile(a, b, batch: n) { sample, difference, pixels, visit in
            let w = weights[sample] / Float(tilesPerSample)
            guard w != 0 else { return }
            let dTile = distance == .l1 ? (difference > 0 ? w : (difference < 0 ? -w : 0)) : 2 * w * difference
            let g = dTile / Float(pixels)
            visit { grad[$0] += g }
        }
    }
}
