import ArgumentParser
import Foundation
import Imaging
import Pipeline

struct CorruptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corrupt",
        abstract: "Apply corruptions to a folder of images (no model): noisy, grey, sketched, blurred, JPEG'd or holed copies.",
        discussion: "Specs: noise:SIGMA, grayscale, sketch[:sobel|canny], blur:SIGMA, jpeg:QUALITY, holes:COUNT:SIZE.")

    @Argument(help: "Input folder.") var input: String
    @Option(name: .output, help: "Output folder.") var output: String
    @Option(help: "A corruption spec or comma-separated chain (repeatable; applied in order).", transform: corruptionChain)
    var corrupt: [[Corruption]]
    @Option(help: "Seed (each image's seed also depends on its path).") var seed: UInt64 = 0
    @Option(help: "Output format.") var format: ImageFormat = .png
    @Flag(help: "Also write clean/corrupted strips.") var strip = false
    @OptionGroup var options: PipelineOptions

    func run() throws {
        var job = Job(input: input, output: output)
        job.corruptions = corrupt.flatMap { $0 }
        job.seed = seed
        job.format = format
        job.artifacts = strip ? [.output, .strip] : [.output]
        job.measures = [.psnr, .ssim]
        options.apply(to: &job)
        _ = try runPipeline(job, force: options.force, quiet: options.quiet)
    }
}
