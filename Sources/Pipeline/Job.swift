import Foundation
import IGN
import Imaging

/// Everything that describes one pipeline: where images come from and go, what is done to
/// them, and what is measured. Built from a pipeline file (``PipelineFile``) or in code.
public struct Job: Equatable, Sendable {
    /// How an image of any size meets a network of fixed size.
    public enum Fit: String, Sendable, CaseIterable {
        /// Stretch the whole image to the model's size.
        case resize
        /// Crop the centre to a square, then resize (nothing is stretched).
        case cover
        /// Cover the image with overlapping model-size tiles, project them, blend them back:
        /// the output has the input's full resolution.
        case tiles
        /// The whole image at its own resolution in one pass of a fully-convolutional model, or
        /// in overlapping blocks of at most `block` pixels a side, blended back.
        case whole
    }

    /// The resolution outputs of the `resize` and `cover` fits are written at.
    public enum Size: String, Sendable, CaseIterable {
        /// The model's size (e.g. 32×32).
        case model
        /// Scaled back to the input's size (for `cover`, the size of the centre crop).
        case input
    }

    /// The resolution synthetic corruptions are applied at.
    public enum CorruptAt: String, Sendable, CaseIterable {
        /// The input's own pixels, before fitting: what a file damaged in the wild looks like.
        case input
        /// The fitted model-size sample (`resize` and `cover` with `size: model`): noise keeps
        /// its σ and sketch lines their width instead of being averaged away by the resize, as
        /// in `ign eval`. `tiles` works on the input's pixels, so there both are the same.
        case model
    }

    /// What the output image holds.
    public enum Color: String, Sendable, CaseIterable {
        /// The network's output f^k(x) as it is.
        case network
        /// The input's own CIELAB lightness with the chroma (a*, b*) of f^k(x): colorization
        /// that keeps every tone and detail of the input. Needs a 3-channel model.
        case lightness
    }

    /// Image files written for each input, beside each other in the mirrored tree.
    public enum Artifact: String, Sendable, CaseIterable {
        /// The projected image: `a/b/c.jpg` → `a/b/c.png`.
        case output
        /// The corrupted input the network saw, at the output's resolution: `a/b/c.corrupted.png`.
        case corrupted
        /// Before/after side by side (clean, corrupted, output): `a/b/c.strip.png`.
        case strip
    }

    /// Figures measured per image.
    public enum Measure: String, Sendable, CaseIterable {
        /// RMS(f(y) − y) and ‖f(y) − y‖/‖y‖ for the output y; costs one more application of f.
        case drift
        /// RMS(y − x) between the network's output and input.
        case distance
        /// PSNR of the corrupted input and of the output against the clean image.
        case psnr
        /// SSIM of the corrupted input and of the output against the clean image.
        case ssim
        /// PSNR of the classical denoisers (``ClassicalDenoisers``) on the corrupted input:
        /// the gaussian blur with σ tuned on this very image (an oracle), and medians 3×3 and
        /// 5×5. What f has to beat; not measured unless asked for.
        case baseline
        /// Mean CIE76 colour difference ΔE*ab (CIELAB, D65) of the corrupted input and of the
        /// output against the clean image: how far colours are from the truth (colorization).
        case deltaE = "delta-e"

        /// What a job measures unless it says otherwise.
        public static let defaults: [Measure] = [.drift, .distance, .psnr, .ssim]
    }

    /// The folder of input images (searched recursively).
    public var input: String
    /// The output folder; created if missing.
    public var output: String
    /// A bundled model's name or a model file's path; nil runs corruptions only.
    public var model: String?
    /// How images meet the model's fixed size.
    public var fit: Fit = .cover
    /// Output resolution for `resize` and `cover`.
    public var size: Size = .model
    /// Minimum overlap of neighbouring tiles or blocks, in pixels (`tiles` and `whole`).
    public var overlap = 8
    /// The largest block side, in pixels, of `whole`: larger images go in overlapping blocks
    /// (bounding the network's memory at about 1 KB per pixel of a block per thread).
    public var block = 512
    /// Corruptions applied to each input, in order.
    public var corruptions: [Corruption] = []
    /// Whether corruptions are applied before fitting or to the fitted sample.
    public var corruptAt: CorruptAt = .input
    /// Applications of f: the output is f^steps(x).
    public var steps = 1
    /// The BatchNorm statistics f runs with: the projection set (on data; the default) or the
    /// generation set (on f's chain from noise). Batch statistics are refused: an output would
    /// depend on which images happen to share its batch.
    public var statistics: StatisticsSet = .projection
    /// Why ``statistics`` may not be `.batch`, for the messages that refuse it.
    public static let batchStatisticsRefusal = "batch would make each output depend on which images share its batch"
    /// Samples (images or tiles) per network call.
    public var batch = 64
    /// Decode/encode threads; 0 means one per core.
    public var workers = 0
    /// Network threads; 0 means one per core.
    public var threads = 0
    /// File format of the images written.
    public var format: ImageFormat = .png
    /// What the output image holds.
    public var color: Color = .network
    /// The image files written per input (empty: metrics only).
    public var artifacts: [Artifact] = [.output]
    /// The figures measured per image.
    public var measures: [Measure] = Measure.defaults
    /// Globs a file must match to be processed (none: every file). A glob without `/`
    /// matches the file name, one with `/` the path relative to the input; `**` crosses folders.
    public var include: [String] = []
    /// Globs of files to leave out (same syntax as `include`).
    public var exclude: [String] = []
    /// Follow symbolic links to files and folders inside the input.
    public var followSymlinks = false
    /// Seed of the synthetic corruptions (each image's seed also depends on its path).
    public var seed: UInt64 = 0
    /// Images over this many pixels are refused (recorded as failures).
    public var maxPixels = 50_000_000
    /// This process's share of the inputs when a run is split over tasks (nil: all of them).
    /// Not a setting of the results: every shard of a run has the same fingerprint.
    public var shard: Shard?

    /// A job with the given folders and defaults for everything else.
    public init(input: String, output: String, model: String? = nil) {
        self.input = input
        self.output = output
        self.model = model
    }

    /// Checks the values that need no file system or model; throws `.usage`.
    public func validate() throws {
        func bad(_ message: String) -> PipelineError { PipelineError(.usage, message) }
        guard !input.isEmpty else { throw bad("no input folder given") }
        guard !output.isEmpty else { throw bad("no output folder given") }
        guard (1...100).contains(steps) else { throw bad("steps must be 1...100, got \(steps)") }
        if statistics == .batch {
            throw bad("statistics: \(Job.batchStatisticsRefusal): use projection or generation")
        }
        guard (1...4096).contains(batch) else { throw bad("batch must be 1...4096, got \(batch)") }
        guard (0...256).contains(workers) else { throw bad("workers must be 0...256 (0 = one per core), got \(workers)") }
        guard (0...256).contains(threads) else { throw bad("threads must be 0...256 (0 = one per core), got \(threads)") }
        guard overlap >= 0 else { throw bad("overlap must be ≥ 0, got \(overlap)") }
        guard (16...8192).contains(block) else { throw bad("block must be 16...8192, got \(block)") }
        if fit == .whole && overlap * 2 >= block { throw bad("overlap \(overlap) must be under half the block (\(block))") }
        guard maxPixels > 0 else { throw bad("max-pixels must be positive, got \(maxPixels)") }
        if corruptAt == .model && fit != .tiles && fit != .whole && size == .input {
            throw bad("corrupt-at: model corrupts the model-size sample, so outputs are model-size too: use size: model")
        }
        if model == nil {
            guard !corruptions.isEmpty else { throw bad("without a model there is nothing to do: give corruptions") }
            guard color == .network else { throw bad("color: lightness needs a model") }
        }
        for pattern in include + exclude { _ = try Glob(pattern) }
    }

    /// Whether the clean image is kept beside the corrupted one: something compares against
    /// it, or a strip shows it.
    var keepsClean: Bool {
        !corruptions.isEmpty && (measures.contains(.psnr) || measures.contains(.ssim) || measures.contains(.baseline)
                                 || measures.contains(.deltaE) || artifacts.contains(.strip))
    }

    /// The settings that decide what is written for an image: a run resumes into an output
    /// folder only if the folder was made by a job with the same fingerprint. Folders, file
    /// selection (globs, links, pixel limit), worker and thread counts and the batch size are
    /// left out: they change which images are done, or how fast, not their results.
    public func fingerprint(modelDigest: String?) -> [String: String] {
        var settings = [
            "model": modelDigest ?? "none",
            "fit": fit.rawValue,
            "size": size.rawValue,
            "overlap": String(overlap),
            "corrupt": corruptions.map(\.description).joined(separator: ","),
            "corrupt-at": corruptAt.rawValue,
            "steps": String(steps),
            "format": format.rawValue,
            "color": color.rawValue,
            "write": artifacts.map(\.rawValue).joined(separator: ","),
            "metrics": measures.map(\.rawValue).joined(separator: ","),
            "seed": String(seed),
        ]
        if fit == .whole { settings["block"] = String(block) }
        if statistics != .projection { settings["statistics"] = statistics.rawValue }
        return settings
    }
}
