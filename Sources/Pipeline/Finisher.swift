import Foundation
import Imaging

/// The last stage for one image: un-fit the network's output, measure it, write the image
/// files (each atomically) and return its metrics record.
struct Finisher: Sendable {
    let job: Job
    let tree: OutputTree
    let writer = ImageWriter()

    func finish(_ work: ImageWork) throws -> ImageRecord {
        let (input, projected, next) = try work.networkImages()
        let hasNetwork = job.model != nil
        var record = ImageRecord(path: work.path, output: work.names[.output], width: work.width, height: work.height,
                                 corruption: job.corruptions.map(\.description).joined(separator: ","))
        if hasNetwork && job.measures.contains(.distance) {
            record.distance = Finisher.rms(projected.pixels, input.pixels)
        }
        if let next {
            let drift = Finisher.rms(next.pixels, projected.pixels), norm = Finisher.rms(projected.pixels, nil)
            record.drift = drift
            record.relativeDrift = norm > 0 ? drift / norm : nil
        }

        var output = projected
        if let size = work.outputSize {
            output = try output.resized(width: size.width, height: size.height)
        }
        if job.color == .lightness {
            output = try Colorization.combine(lightnessOf: work.corrupted, chromaOf: output)
        }
        output = output.quantized()  // measured as written
        let corrupted = work.corrupted.quantized()
        if let clean = work.clean {
            if job.measures.contains(.psnr) {
                record.psnrIn = try Metrics.psnr(corrupted, clean)
                if hasNetwork { record.psnrOut = try Metrics.psnr(output, clean) }
            }
            if job.measures.contains(.ssim) {
                record.ssimIn = try Metrics.ssim(corrupted, clean)
                if hasNetwork { record.ssimOut = try Metrics.ssim(output, clean) }
            }
        }

        for artifact in job.artifacts {
            guard let name = work.names[artifact] else { continue }
            let image: PlanarImage
            switch artifact {
            case .output: image = output
            case .corrupted: image = corrupted
            case .strip: image = try strip([work.clean, hasNetwork ? corrupted : nil, output].compactMap { $0 })
            }
            let url = try tree.prepare(name)
            do {
                try writer.write(image, to: url)
            } catch let error as ImagingError {
                throw PipelineError(.output, "\(name): \(error.message)")
            }
        }
        return record
    }

    /// Images side by side, enlarged to at least 128 pixels high.
    private func strip(_ images: [PlanarImage]) throws -> PlanarImage {
        try ContactSheet(columns: images.count, padding: 2, scale: max(1, 128 / images[0].height)).compose(images)
    }

    /// Root mean square of `a − b` (of `a` when `b` is nil).
    static func rms(_ a: [Float], _ b: [Float]?) -> Double {
        guard !a.isEmpty else { return 0 }
        var sum = 0.0
        a.withUnsafeBufferPointer { p in
            if let b {
                b.withUnsafeBufferPointer { q in
                    for i in 0..<p.count {
                        let d = Double(p[i] - q[i])
                        sum += d * d
                    }
                }
            } else {
                for v in p { sum += Double(v) * Double(v) }
            }
        }
        return (sum / Double(a.count)).squareRoot()
    }
}
