import Foundation
import Imaging

/// The last stage for one image: assemble the network's results, measure them, write the
/// image files (each atomically) and the report's thumbnail, and return its metrics record. Anything thrown is that
/// image's failure.
struct Finisher: Sendable {
    let job: Job
    let tree: OutputTree
    let writer = ImageWriter()
    let thumbnailWriter = ImageWriter(jpegQuality: Thumbnails.quality)

    func finish(_ image: InFlightImage) throws -> ImageRecord {
        let fitted = image.fitted
        let result = try fitted.assemble()
        try checkFinite(result)
        let hasNetwork = job.model != nil
        var record = ImageRecord(path: image.path, output: image.names[.output], width: image.width, height: image.height,
                                 corruption: job.corruptions.map(\.description).joined(separator: ","))
        record.source = image.source
        if hasNetwork && job.measures.contains(.distance) {
            record.distance = Metrics.rms(result.output.pixels, result.input.pixels)
        }
        if let next = result.next {
            let drift = Metrics.rms(next.pixels, result.output.pixels), norm = Metrics.rms(result.output.pixels)
            record.drift = drift
            record.relativeDrift = norm > 0 ? drift / norm : nil
        }

        var output = result.written
        if job.color == .lightness {
            output = try Colorization.combine(lightnessOf: fitted.corrupted, chromaOf: output)
        }
        output = output.quantized()  // measured as written
        let corrupted = fitted.corrupted.quantized()
        if let clean = fitted.clean {
            if job.measures.contains(.psnr) {
                record.psnrIn = try Metrics.psnr(corrupted, clean)
                if hasNetwork { record.psnrOut = try Metrics.psnr(output, clean) }
            }
            if job.measures.contains(.ssim) {
                record.ssimIn = try Metrics.ssim(corrupted, clean)
                if hasNetwork { record.ssimOut = try Metrics.ssim(output, clean) }
            }
            if job.measures.contains(.deltaE) && clean.channels == 3 {
                record.deltaEIn = try Metrics.meanDeltaE76(corrupted.converted(toChannels: 3), clean)
                if hasNetwork { record.deltaEOut = try Metrics.meanDeltaE76(output.converted(toChannels: 3), clean) }
            }
            if job.measures.contains(.baseline) {
                let blur = try ClassicalDenoisers.bestBlur([corrupted], clean: [clean])
                record.psnrBlur = blur.psnr
                record.blurSigma = blur.sigma
                record.psnrMedian3 = try ClassicalDenoisers.meanPSNR(of: .median(size: 3), [corrupted], clean: [clean])
                record.psnrMedian5 = try ClassicalDenoisers.meanPSNR(of: .median(size: 5), [corrupted], clean: [clean])
            }
        }

        var files: [(artifact: Job.Artifact, name: String, picture: PlanarImage)] = []
        for artifact in job.artifacts {
            guard let name = image.names[artifact] else { continue }
            switch artifact {
            case .output: files.append((artifact, name, output))
            case .corrupted: files.append((artifact, name, corrupted))
            case .strip: files.append((artifact, name, try strip([fitted.clean, hasNetwork ? corrupted : nil, output].compactMap { $0 })))
            }
        }
        try writeConcurrently(files.map { ($0.name, $0.picture) })
        // The report's thumbnail: of the strip, else the output. Here, after the others: written among
        // them, inside the concurrent writes, the thumbnails differed from run to run (cause not found).
        if let shown = files.first(where: { $0.artifact == .strip }) ?? files.first(where: { $0.artifact == .output }) {
            try write(try Thumbnails.shrink(shown.picture), with: thumbnailWriter, to: Thumbnails.path(for: shown.name))
        }
        return record
    }

    /// Encodes and writes the files at the same time (a photo's PNG takes a good part of a
    /// second), each atomically; throws the first failure in `files`' order, after all have ended.
    private func writeConcurrently(_ files: [(name: String, picture: PlanarImage)]) throws {
        let failures = FailureSlots(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            do { try write(files[i].picture, with: writer, to: files[i].name) } catch { failures.set(i, error) }
        }
        if let first = failures.first { throw first }
    }

    private func write(_ picture: PlanarImage, with writer: ImageWriter, to name: String) throws {
        do {
            try writer.write(picture, to: try tree.prepare(name))
        } catch let error as ImagingError {
            throw InputFailure(code: "output", message: "\(name): \(error.message)")
        }
    }

    /// Throws a `nonFinite` failure if the network gave NaN or infinity anywhere: such an
    /// image gets no files and no metrics line.
    private func checkFinite(_ result: Assembly) throws {
        let results: [(PlanarImage?, String)] = [(result.output, "output"), (result.next, "output's own projection (for drift)")]
        for case let (image?, what) in results {
            guard let bad = image.pixels.firstIndex(where: { !$0.isFinite }) else { continue }
            throw InputFailure(code: "nonFinite", message: "the network's \(what) holds \(image.pixels[bad]) at value \(bad) of \(image.pixels.count): nothing written")
        }
    }

    /// Images side by side, enlarged towards 128 pixels high (see ``stripScale``).
    private func strip(_ images: [PlanarImage]) throws -> PlanarImage {
        let scale = Self.stripScale(width: images[0].width, height: images[0].height, count: images.count)
        return try ContactSheet(columns: images.count, padding: Self.stripPadding, scale: scale).compose(images)
    }

    /// Pixels between and around a strip's images.
    static let stripPadding = 2
    /// Enlargement never makes a strip wider than this. It only enlarges images under 64
    /// pixels high, to at most 128, so an enlarged strip has at most 4096×132 pixels (6 MiB in
    /// colour, well inside `PipelineRunner.memoryBudget`); larger strips are the inputs' own size.
    static let maxStripWidth = 4096

    /// The enlargement of `count` images of `width`×`height` side by side: to at least 128
    /// pixels high unless that makes the strip wider than `maxStripWidth`; 1 (none) when even 2 does.
    static func stripScale(width: Int, height: Int, count: Int) -> Int {
        var scale = max(1, 128 / height)
        while scale > 1 && stripSize(width: width, height: height, count: count, scale: scale).width > maxStripWidth {
            scale -= 1
        }
        return scale
    }

    /// The size of the strip of `count` images of `width`×`height` enlarged by `scale`.
    static func stripSize(width: Int, height: Int, count: Int, scale: Int) -> (width: Int, height: Int) {
        (count * width * scale + (count + 1) * stripPadding, height * scale + 2 * stripPadding)
    }
}

/// The small JPEGs a run's report shows: one per image, of its strip (or its output), written by
/// the run beside its outputs under `report/thumbs/`, mirroring the output tree.
public enum Thumbnails {
    /// Largest thumbnail width, pixels.
    public static let width = 240
    public static let quality = 80

    /// Where the thumbnail of the image file `name` (relative to the output folder) goes.
    public static func path(for name: String) -> String {
        "report/thumbs/" + (name as NSString).deletingPathExtension + ".jpg"
    }

    /// `image` shrunk to at most ``width`` wide, keeping its aspect.
    public static func shrink(_ image: PlanarImage) throws -> PlanarImage {
        guard image.width > width else { return image }
        let height = max(1, Int((Double(image.height) * Double(width) / Double(image.width)).rounded()))
        return try image.resized(width: width, height: height)
    }
}

/// One error slot per concurrent task, filled under a lock.
private final class FailureSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [Error?]

    init(count: Int) { errors = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ error: Error) { lock.withLock { errors[index] = error } }

    var first: Error? { lock.withLock { errors.lazy.compactMap { $0 }.first } }
}
