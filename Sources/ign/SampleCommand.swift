import ArgumentParser
import Engine
import Foundation
import IGN
import Imaging

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate from noise: a grid whose rows are f(z), f(f(z)), … for each group of samples.")

    @Option(help: "Model file.") var model: String
    @Option(help: "Number of samples.") var count = 64
    @Option(help: "Applications of f shown (one row each).") var steps = 3
    @Option(help: "Noise seed.") var seed: UInt64 = 1
    @Option(help: "Samples per row.") var columns = 16
    @Flag(name: .customLong("show-noise"), help: "Also show z itself above f(z).") var showNoise = false
    @Option(help: "Integer upscale of each image (default: to about 64 px).") var scale: Int?
    @Option(help: "Output image (.png, .jpg, .webp, .tif).") var out: String
    @OptionGroup var compute: ComputeOptions

    mutating func validate() throws {
        guard count >= 1, steps >= 1, columns >= 1 else { throw ValidationError("--count, --steps and --columns must be positive") }
    }

    func run() throws {
        let model = try loadModel(self.model)
        let shape = model.sampleShape
        let z = try model.drawNoise(count: count, seed: seed)
        let rows = (showNoise ? [z.map { max(-1, min(1, $0)) }] : []) + Projector(model: model, threads: compute.threads).apply(z, count: count, steps: steps)
        try writeGrid(rows, shape: shape, count: count, columns: min(columns, count), scale: scale, to: out)
    }
}

/// Writes batches (each NCHW, `count` samples) as a grid: for every group of `columns` samples,
/// one row per batch, so each sample's progression reads top to bottom.
func writeGrid(_ batches: [[Float]], shape: SampleShape, count: Int, columns: Int, scale: Int?, to path: String) throws {
    var cells: [PlanarImage] = []
    for groupStart in stride(from: 0, to: count, by: columns) {
        for batch in batches {
            for i in 0..<columns {
                let index = groupStart + i
                if index < count {
                    cells.append(try PlanarImage(width: shape.width, height: shape.height, channels: shape.channels,
                                                 pixels: Array(batch[(index * shape.count)..<((index + 1) * shape.count)])))
                } else {
                    cells.append(try PlanarImage(width: shape.width, height: shape.height, channels: shape.channels, fill: 1))
                }
            }
        }
    }
    let sheet = ContactSheet(columns: columns, padding: 2, scale: scale ?? max(1, 64 / shape.width))
    try ImageWriter().write(try sheet.compose(cells), to: try outputFile(path))
}
