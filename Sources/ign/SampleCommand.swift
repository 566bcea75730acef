import ArgumentParser
import Engine
import Foundation
import IGN
import Imaging

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate from noise: a grid whose rows are f(z), f(f(z)), … for each group of samples, or all of them as .npy.",
        discussion: "An .npy output holds float32 [steps, count, C, H, W] in [-1, 1]: row s is f^(s+1)(z). Samples are a pure function of the model, --seed, --count and, with --statistics batch, --batch.")

    @OptionGroup var model: ModelOptions
    @Option(help: "Number of samples.") var count = 64
    @Option(help: "Applications of f shown (one row each).") var steps = 3
    @Option(help: "Noise seed.") var seed: UInt64 = 1
    @Option(help: "Samples per row.") var columns = 16
    @Flag(name: .customLong("show-noise"), help: "Also show z itself above f(z) (grids only).") var showNoise = false
    @Option(help: "Integer upscale of each image (default: to about 64 px).") var scale: Int?
    @Option(help: statisticsHelp(default: .generation)) var statistics: StatisticsSet = .generation
    @Option(help: "Samples per network call (with --statistics batch, the batch whose statistics normalise them).") var batch = 64
    @Option(name: .output, help: ArgumentHelp("Output: an image (\(ImageFormat.names)) or .npy.")) var out: String
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try Check.count("--count", count, in: 1...(Check.isArray(out) ? Check.sampleFloats : Check.batch.upperBound))
        try Check.count("--steps", steps, in: Check.steps)
        try Check.count("--columns", columns, in: Check.batch)
        try Check.count("--batch", batch, in: statistics == .batch ? Check.trainingBatch : Check.batch)
        if let scale { try Check.count("--scale", scale, in: gridScales) }
        try Check.imageOrArray("--output", out)
    }

    func run() throws {
        let model = try self.model.load()
        let shape = model.sampleShape
        let columns = min(self.columns, count), groups = (count + columns - 1) / columns
        if Check.isArray(out) {
            try checkArray(samples: count, steps: steps, shape: shape, options: "--count or --steps")
        } else {
            try checkGrid(rows: groups * (steps + (showNoise ? 1 : 0)), columns: columns, shape: shape, scale: scale,
                          options: "--count, --columns, --steps or --scale")
        }
        let z = try model.drawNoise(count: count, seed: seed)
        let samples = makeProjector(model, statistics: statistics, threads: compute.threads)
            .apply(z, count: count, steps: steps, batchSize: batch)
        if Check.isArray(out) {
            try writeArray(samples, count: count, shape: shape, to: out)
        } else {
            try writeGrid((showNoise ? [z.map { max(-1, min(1, $0)) }] : []) + samples, shape: shape, count: count, columns: columns,
                          scale: scale, to: out)
        }
    }
}

/// Refuses, before any work, an `.npy` of samples over ``Check/sampleFloats`` floats, as a
/// usage error naming the `options` that size it.
func checkArray(samples: Int, steps: Int, shape: SampleShape, options: String) throws {
    let (floats, overflow) = samples.multipliedReportingOverflow(by: steps * shape.count)
    guard !overflow, floats <= Check.sampleFloats else {
        throw ValidationError("\(samples) samples × \(steps) steps of \(shape) would be over \(Check.sampleFloats) floats: lower \(options)")
    }
}

/// Writes batches (each NCHW, `count` samples) as one float32 `.npy` `[batches, count, C, H, W]`.
func writeArray(_ batches: [[Float]], count: Int, shape: SampleShape, to path: String) throws {
    try NPY.write(batches.flatMap { $0 }, shape: [batches.count, count, shape.channels, shape.height, shape.width], to: try outputFile(path))
}

/// Integer upscales `--scale` allows.
let gridScales = 1...64
/// Pixels between and around grid cells.
let gridPadding = 2
/// The most pixels a grid may have (as floats, 2²⁶ colour pixels take 768 MiB).
let gridPixelLimit = 1 << 26

/// The upscale of each cell: `scale`, or enough to make cells about 64 pixels wide.
func gridScale(_ scale: Int?, for shape: SampleShape) -> Int { scale ?? max(1, 64 / shape.width) }

/// Refuses, before any work, a grid of `rows` × `columns` cells over ``gridPixelLimit``,
/// as a usage error naming the `options` that size it.
func checkGrid(rows: Int, columns: Int, shape: SampleShape, scale: Int?, options: String) throws {
    let scale = gridScale(scale, for: shape)
    let width = columns * (shape.width * scale + gridPadding) + gridPadding
    let height = rows * (shape.height * scale + gridPadding) + gridPadding
    guard width * height <= gridPixelLimit else {
        throw ValidationError("the grid would be \(width)×\(height) pixels, over the limit of \(gridPixelLimit): lower \(options)")
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
    let sheet = ContactSheet(columns: columns, padding: gridPadding, scale: gridScale(scale, for: shape))
    try ImageWriter().write(try sheet.compose(cells), to: try outputFile(path))
}
