import Basics
import Engine
import Foundation

/// One part of the source distribution z is drawn from, written `WEIGHT:SPEC` on the command line.
public struct SourceComponent: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The spec of the model's own noise (gaussian or fourier, ``TrainingOptions/noise``).
    public static let modelNoise = "model"

    /// Relative weight, > 0; weights need not sum to 1.
    public var weight: Double
    /// ``modelNoise``, or a corruption chain applied to a random training image (`noise:0.2`,
    /// `grayscale`, `sketch`, `grayscale,noise:0.1`: the pipeline files' corruption specs).
    public var spec: String

    public init(weight: Double, spec: String) {
        self.weight = weight; self.spec = spec
    }

    /// Reads `WEIGHT:SPEC`, e.g. `0.3:noise:0.2` or `1:model`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let weight = Double(parts[0]), weight.isFinite, weight > 0, !parts[1].isEmpty else {
            throw ModelError("bad source \"\(text)\": expected WEIGHT:SPEC with a weight > 0, e.g. 0.3:noise:0.2 or 0.5:model")
        }
        self.init(weight: weight, spec: parts[1])
    }

    public var description: String { "\(weight):\(spec)" }

    /// What f(z) must keep of the training image a sample of this component was made from, for the
    /// consistency terms: its local means under additive noise alone (`noise:σ` or `gaussian:σ`, chained or not), its
    /// luminance when it is `grayscale`, its edges when it is a sobel `sketch`; nothing otherwise.
    public var kept: KeptProperty {
        let steps = spec.split(separator: ",")
        if spec == SourceComponent.modelNoise { return .nothing }
        if steps.allSatisfy({ $0.hasPrefix("noise:") || $0.hasPrefix("gaussian:") }) { return .localMeans }
        if spec == "grayscale" { return .luminance }
        if spec == "sketch" || spec == "sketch:sobel" { return .edges }
        return .nothing
    }

    /// The σ (0–1 units) of the Gaussian noise a sample of this component carries when its spec is
    /// unclamped Gaussian noise alone (`gaussian:σ`, a chain's σ combined as √Σσ²), for the SURE
    /// term; nil otherwise (clamped `noise:σ` is not Gaussian where it clamps).
    public var noiseSigma: Double? {
        let sigmas = spec.split(separator: ",").map { $0.hasPrefix("gaussian:") ? Double($0.dropFirst("gaussian:".count)) : nil }
        guard sigmas.allSatisfy({ $0 != nil }) else { return nil }
        return sigmas.reduce(0) { $0 + $1! * $1! }.squareRoot()
    }
}

/// What a corrupted training image still says about the image, and what f(z) is held to
/// (``ObjectiveConfig/lambdaLocalMean``, ``ObjectiveConfig/lambdaConsistency``).
public enum KeptProperty: Sendable, Hashable {
    case nothing
    /// Additive zero-mean noise leaves block means as they were.
    case localMeans
    /// Grayscale conversion keeps the luminance.
    case luminance
    /// A sobel sketch keeps where the luminance's edges are.
    case edges

    /// Whether a differentiable twin of the corruption exists (``CorruptionTwins``): the
    /// consistency and matching terms act on these.
    public var hasTwin: Bool { self == .luminance || self == .edges }
}

/// Turns a clean training sample (C×H×W values in [-1, 1], of `shape`) into a corrupted one of the
/// same shape, deterministically in `seed`.
public typealias SampleCorrupter = (_ sample: [Float], _ shape: SampleShape, _ seed: UInt64) throws -> [Float]

/// IGN's source distribution as a weighted mix of the model's noise and corrupted training images.
///
/// Each z sample picks a component by weight; a corruption component takes a training image chosen
/// at random, independently of the batch's x, and corrupts it. So the objective stays unpaired: f
/// never sees a (corrupted, clean) pair, and the idempotence and tightness losses act on corrupted
/// images as they do on noise.
public struct SourceMix {
    public let components: [SourceComponent]
    /// Per component: how it corrupts a sample, or nil for the model's noise.
    private let corrupters: [SampleCorrupter?]
    private let cumulative: [Double]

    /// `corrupter` builds the corruption for a spec (the caller owns image processing); it is not
    /// called for ``SourceComponent/modelNoise``.
    public init(_ components: [SourceComponent], corrupter: (String) throws -> SampleCorrupter) throws {
        guard !components.isEmpty else { throw ModelError("a source mix needs at least one component") }
        self.components = components
        corrupters = try components.map { $0.spec == SourceComponent.modelNoise ? nil : try corrupter($0.spec) }
        let total = components.reduce(0) { $0 + $1.weight }
        var sum = 0.0
        cumulative = components.map { sum += $0.weight / total; return sum }
    }

    /// Writes `n` samples of z (sample-major, C×H×W each) into `out`, drawing every choice from `rng`,
    /// and returns each sample's component and, for a corrupted training image, that image's index.
    @discardableResult
    public func fill(_ out: UnsafeMutablePointer<Float>, count n: Int, data: Dataset, noise: NoiseSource,
                     rng: inout RandomSource) throws -> [DrawnSample] {
        let size = data.shape.count
        var drawn: [DrawnSample] = []
        for i in 0..<n {
            let u = Double(rng.nextUniform())
            let k = cumulative.firstIndex { u < $0 } ?? components.count - 1
            let target = out + i * size
            guard let corrupt = corrupters[k] else {
                drawn.append(DrawnSample(component: components[k], source: nil))
                noise.fill(target, count: 1, rng: &rng)
                continue
            }
            let index = Int(rng.next() % UInt64(data.count)), seed = rng.next()
            drawn.append(DrawnSample(component: components[k], source: index))
            let clean = Array(data.values[(index * size)..<((index + 1) * size)])
            let corrupted = try corrupt(clean, data.shape, seed)
            guard corrupted.count == size else {
                throw ModelError("source \(components[k].spec) changed a sample's size (\(size) → \(corrupted.count) values)")
            }
            target.update(from: corrupted, count: size)
        }
        return drawn
    }
}

/// One z sample of a ``SourceMix``: its component and, when it is a corrupted training image, that
/// image's index in the dataset.
public struct DrawnSample: Equatable, Sendable {
    public var component: SourceComponent
    public var source: Int?
}
