import ArgumentParser
import Datasets
import Foundation

struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Build the reproducible training/validation/test sets (.npy NCHW float32 in [-1, 1]) of the bundled models.",
        subcommands: [EmojiDatasetCommand.self, PhotoDatasetCommand.self, FashionDatasetCommand.self])
}

struct EmojiDatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emoji",
        abstract: "Colour emoji from a CBDT font, on white: emojiS-{train,val,test}.npy, a test preview and the split list.")

    @Option(help: "A colour bitmap (CBLC/CBDT) font.") var font = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
    @Option(help: "Output folder.") var out: String
    @Option(help: "Image side in pixels.") var size = 32
    @Option(name: .customLong("test-fraction"), help: "Share of glyphs held out for test.") var testFraction = 0.1
    @Option(name: .customLong("val-fraction"), help: "Share of glyphs carved out for validation (0: none).") var valFraction = 0.05
    @Option(help: "Seed of the split.") var seed: UInt64 = 0
    @Option(help: "Use only the first N glyphs by id (quick checks).") var limit: Int?
    @Option(name: .customLong("export-test"), help: "Also write the first N test glyphs at full resolution as PNGs (pipeline inputs).") var exportTest = 0

    func run() throws {
        var builder = EmojiDatasetBuilder()
        builder.size = size
        builder.testFraction = testFraction
        builder.validationFraction = valFraction
        builder.seed = seed
        builder.limit = limit
        builder.exportTest = exportTest
        printReport(try builder.build(font: URL(fileURLWithPath: font), into: URL(fileURLWithPath: out)))
    }
}

struct PhotoDatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "photos",
        abstract: "Random square patches of photos at several scales; whole photos held out for test: photoS-{train,test}.npy, a test preview and the source list.")

    @Option(parsing: .upToNextOption, help: "Photos, or folders of them.") var input: [String]
    @Option(help: "Output folder.") var out: String
    @Option(help: "Patch side in pixels.") var size = 32
    @Option(help: "Training patches.") var patches = 20_000
    @Option(name: .customLong("test-patches"), help: "Test patches.") var testPatches = 2_000
    @Option(help: "Comma-separated resize factors in (0, 1].") var scales = "1,0.5,0.25"
    @Option(name: .customLong("max-side"), help: "Shrink each photo first so its longer side is at most this.") var maxSide = 512
    @Option(name: .customLong("test-images"), parsing: .upToNextOption,
            help: "File names (extension optional) of the photos to hold out (default: 10% chosen by the seed).") var testImages: [String] = []
    @Option(help: "Seed of the held-out choice and patch positions.") var seed: UInt64 = 0
    @Flag(name: .customLong("skip-gray"), help: "Leave out photos without colour (for models that colorize).") var skipGray = false

    func run() throws {
        var builder = PhotoPatchBuilder()
        builder.size = size
        builder.patches = patches
        builder.testPatches = testPatches
        builder.scales = try scales.split(separator: ",").map {
            guard let value = Double($0.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--scales: \"\($0)\" is not a number")
            }
            return value
        }
        builder.maxSide = maxSide
        builder.testImages = testImages.isEmpty ? nil : testImages
        builder.seed = seed
        builder.skipGray = skipGray
        printReport(try builder.build(inputs: input.map { URL(fileURLWithPath: $0) }, into: URL(fileURLWithPath: out)))
    }
}

struct FashionDatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fashion",
        abstract: "Fashion-MNIST IDX files as fashion28-{train,val,test}.npy: train split into train/val, t10k as test.")

    @Option(help: "Output folder.") var out: String
    @Option(help: "Train images moved to the validation set.") var val = 5_000
    @Option(name: .customLong("train-file"), help: "IDX train images.") var trainFile = FashionSplitBuilder.defaultTrainFile
    @Option(name: .customLong("test-file"), help: "IDX test images.") var testFile = FashionSplitBuilder.defaultTestFile
    @Option(help: "Seed of the validation choice.") var seed: UInt64 = 0

    func run() throws {
        var builder = FashionSplitBuilder()
        builder.validationCount = val
        builder.seed = seed
        printReport(try builder.build(trainFile: URL(fileURLWithPath: trainFile), testFile: URL(fileURLWithPath: testFile),
                                      into: URL(fileURLWithPath: out)))
    }
}

/// Arrays and files on stdout, warnings on stderr.
private func printReport(_ report: BuildReport) {
    for warning in report.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
    for array in report.arrays {
        print("\(array.url.path): \(array.shape[0]) × \(array.shape.dropFirst().map(String.init).joined(separator: "×"))")
    }
    for file in report.files { print(file.path) }
}
