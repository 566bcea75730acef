import ArgumentParser
import Engine
import Foundation
import IGN
import Imaging

struct InterpolateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interpolate",
        abstract: "Interpolate between pairs of noises z₁, z₂: each row shows f((1−α)z₁ + αz₂) for α from 0 to 1.",
        discussion: "An .npy output holds float32 [steps, pairs × frames, C, H, W] in [-1, 1] (every application of f; pair after pair, frames in order).")

    @OptionGroup var model: ModelOptions
    @Option(help: "Pairs (rows).") var pairs = 8
    @Option(help: "Frames per pair (columns).") var frames = 10
    @Option(help: "Applications of f to each interpolated noise.") var steps = 1
    @Option(help: "Noise seed.") var seed: UInt64 = 1
    @Option(help: "Integer upscale of each image (default: to about 64 px).") var scale: Int?
    @Option(help: statisticsHelp(default: .generation)) var statistics: StatisticsSet = .generation
    @Option(name: .output, help: ArgumentHelp("Output: an image (\(ImageFormat.names)) showing the last application, or .npy.")) var out: String
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try Check.count("--pairs", pairs, in: Check.batch)
        try Check.count("--frames", frames, in: 2...Check.batch.upperBound)
        guard pairs * frames <= Check.batch.upperBound else {
            throw ValidationError("--pairs × --frames (one network call) must be at most \(Check.batch.upperBound), got \(pairs) × \(frames)")
        }
        try Check.count("--steps", steps, in: Check.steps)
        if let scale { try Check.count("--scale", scale, in: gridScales) }
        try Check.imageOrArray("--output", out)
    }

    func run() throws {
        let model = try self.model.load()
        let shape = model.sampleShape, d = shape.count
        if Check.isArray(out) {
            try checkArray(samples: pairs * frames, steps: steps, shape: shape, options: "--pairs, --frames or --steps")
        } else {
            try checkGrid(rows: pairs, columns: frames, shape: shape, scale: scale, options: "--pairs, --frames or --scale")
        }
        let ends = try model.drawNoise(count: 2 * pairs, seed: seed)
        var z = [Float](repeating: 0, count: pairs * frames * d)
        for p in 0..<pairs {
            for f in 0..<frames {
                let alpha = Float(f) / Float(frames - 1)
                for k in 0..<d {
                    z[(p * frames + f) * d + k] = (1 - alpha) * ends[2 * p * d + k] + alpha * ends[(2 * p + 1) * d + k]
                }
            }
        }
        let out = makeProjector(model, statistics: statistics, threads: compute.threads).apply(z, count: pairs * frames, steps: steps)
        if Check.isArray(self.out) {
            try writeArray(out, count: pairs * frames, shape: shape, to: self.out)
        } else {
            try writeGrid([out[steps - 1]], shape: shape, count: pairs * frames, columns: frames, scale: scale, to: self.out)
        }
    }
}
