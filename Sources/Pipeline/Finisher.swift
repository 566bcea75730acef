import Foundation
import Imaging

/// The last stage for one image: assemble the network's results, measure them, write the
/// image files (each atomically) and return its metrics record. Anything thrown is that
/// image's failure.
struct Finisher: Sendable {
    let job: Job
    let tree: OutputTree
    let writer = ImageWriter()

    func finish(_ image: InFlightImage) throws -> ImageRecord {
        let fitted = image.fitted
        let result = try fitted.assemble()
        let hasNetwork = job.model != nil
        var record = ImageRecord(path: image.path, output: image.names[.output], width: image.width, height: image.height,
                                 corruption: job.corruptions.map(\.description).joined(separator: ","))
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
            if job.measures.contains(.baseline) {
                let blur = try ClassicalDenoisers.bestBlur([corrupted], clean: [clean])
                record.psnrBlur = blur.psnr
                record.blurSigma = blur.sigma
                record.psnrMedian3 = try ClassicalDenoisers.meanPSNR(of: .median(size: 3), [corrupted], clean: [clean])
                record.psnrMedian5 = try ClassicalDenoisers.meanPSNR(of: .median(size: 5), [corrupted], clean: [clean])
            }
        }

        for artifact in job.artifacts {
            guard let name = image.names[artifact] else { continue }
            let picture: PlanarImage
            switch artifact {
            case .output: picture = output
            case .corrupted: picture = corrupted
            case .strip: picture = try strip([fitted.clean, hasNetwork ? corrupted : nil, output].compactMap { $0 })
            }
            do {
                try writer.write(picture, to: try tree.prepare(name))
            } catch let error as ImagingError {
                throw InputFailure(code: "output", message: "\(name): \(error.message)")
            }
        }
        return record
    }

    /// Images side by side, enlarged to at least 128 pixels high.
    private func strip(_ images: [PlanarImage]) throws -> PlanarImage {
        try ContactSheet(columns: images.count, padding: 2, scale: max(1, 128 / images[0].height)).compose(images)
    }
}
