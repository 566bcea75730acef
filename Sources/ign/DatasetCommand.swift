import ArgumentParser
import Datasets
import Foundation

struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Build the reproducible training/validation/test sets (.npy NCHW float32 in [-1, 1]) of the bundled models.",
        subcommands: [EmojiDatasetCommand.self, PhotoDatasetCommand.self, FashionDatasetCommand.self, OutOfDistributionDatasetCommand.self])
}

struct EmojiDatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emoji",
        abstract: "Colour emoji from a CBDT font, on white: emojiS-{train,val,test}.npy, a test preview and the split list.")

    @Option(help: "A colour bitmap (CBLC/CBDT) font.") var font = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
    @Option(name: .output, help: "Output folder.") var out: String
    @Option(help: "Image side in pixels.") var size = 32
    @Option(name: .customLong("test-fraction"), help: "Share of glyphs held out for test.") var testFraction = 0.1
    @Option(name: .customLong("val-fraction"), help: "Share of glyphs carved out for validation (0: none).") var valFraction = 0.05
    @Option(help: "Seed of the split.") var seed: UInt64 = 0
    @Option(help: "Use only the first N glyphs by id (quick checks).") var limit: Int?
    @Option(name: .customLong("export-test"), help: "Also write the first N test glyphs at full resolution as PNGs (pipeline inputs).") var exportTest = 0

    func validate() throws {
        try Check.exists("--font", font)
        try Check.count("--size", size, in: datasetSizes)
        try Check.number("--test-fraction", testFraction, in: 0..<1)
        try Check.number("--val-fraction", valFraction, in: 0..<1)
        if let limit { try Check.count("--limit", limit, in: 2...Int.max) }
        try Check.count("--export-test", exportTest, in: 0...Int.max)
    }

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
    @Option(name: .output, help: "Output folder.") var out: String
    @Option(help: "Patch side in pixels.") var size = 32
    @Option(help: "Training patches.") var patches = 20_000
    @Option(name: .customLong("test-patches"), help: "Test patches.") var testPatches = 2_000
    @Option(help: "Comma-separated resize factors in (0, 1].") var scales = "1,0.5,0.25"
    @Option(name: .customLong("max-side"), help: "Shrink each photo first so its longer side is at most this.") var maxSide = 512
    @Option(name: .customLong("test-images"), parsing: .upToNextOption,
            help: "File names (extension optional) of the photos to hold out (default: 10% chosen by the seed).") var testImages: [String] = []
    @Option(help: "Seed of the held-out choice and patch positions.") var seed: UInt64 = 0
    @Flag(name: .customLong("skip-gray"), help: "Leave out photos without colour (for models that colorize).") var skipGray = false

    /// Most bytes the training and test arrays together may take.
    static let arrayLimit = 4 << 30

    func validate() throws {
        for path in input { try Check.exists("--input", path) }
        try Check.count("--size", size, in: datasetSizes)
        try Check.count("--patches", patches, in: 1...1_000_000)
        try Check.count("--test-patches", testPatches, in: 1...1_000_000)
        let bytes = (patches + testPatches) * 3 * size * size * MemoryLayout<Float>.size
        guard bytes <= PhotoDatasetCommand.arrayLimit else {
            throw ValidationError("--patches \(patches) and --test-patches \(testPatches) of --size \(size) would take \(bytes >> 20) MiB,"
                                  + " over the limit of \(PhotoDatasetCommand.arrayLimit >> 20) MiB")
        }
        guard let factors = scaleFactors, !factors.isEmpty, factors.allSatisfy({ $0 > 0 && $0 <= 1 }) else {
            throw ValidationError("--scales must be numbers in (0, 1] separated by commas, got \"\(scales)\"")
        }
        try Check.count("--max-side", maxSide, in: size...16384)
    }

    /// `--scales` as numbers; nil if one is not a number.
    private var scaleFactors: [Double]? {
        let values = scales.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        return values.contains(nil) ? nil : values.compactMap { $0 }
    }

    func run() throws {
        var builder = PhotoPatchBuilder()
        builder.size = size
        builder.patches = patches
        builder.testPatches = testPatches
        builder.scales = scaleFactors ?? []
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

    @Option(name: .output, help: "Output folder.") var out: String
    @Option(help: "Train images moved to the validation set.") var val = 5_000
    @Option(name: .customLong("train-file"), help: "IDX train images.") var trainFile = FashionSplitBuilder.defaultTrainFile
    @Option(name: .customLong("test-file"), help: "IDX test images.") var testFile = FashionSplitBuilder.defaultTestFile
    @Option(help: "Seed of the validation choice.") var seed: UInt64 = 0

    func validate() throws {
        try Check.count("--val", val, in: 0...1_000_000)
        try Check.exists("--train-file", trainFile)
        try Check.exists("--test-file", testFile)
    }

    func run() throws {
        var builder = FashionSplitBuilder()
        builder.validationCount = val
        builder.seed = seed
        printReport(try builder.build(trainFile: URL(fileURLWithPath: trainFile), testFile: URL(fileURLWithPath: testFile),
                                      into: URL(fileURLWithPath: out)))
    }
}

/// Image sides the dataset builders allow (the sets are held in memory as floats).
private let datasetSizes = 1...256

/// Arrays and files on stdout, warnings on stderr.
private func printReport(_ report: BuildReport) {
    for warning in report.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
    for array in report.arrays {
        print("\(array.url.path): \(array.shape[0]) × \(array.shape.dropFirst().map(String.init).joined(separator: "×"))")
    }
    for file in report.files { print(file.path) }
}

struct OutOfDistributionDatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ood",
        abstract: "Sets to measure out-of-distribution scores of a gray 28×28 model on: a Fashion-MNIST test reference and control, transformed garments, handwritten-style digits and letters, photo patches, noise.",
        discussion: "Writes NAME.npy for \(OutOfDistributionSetBuilder.names.joined(separator: ", ")); --png also writes NAME/NNNNN.png folders. Fonts: scripts/install-deps fonts-dkg-handwriting fonts-breip fonts-bwht fonts-femkeklaver fonts-dancingscript fonts-comic-neue.")

    @Option(name: .output, help: "Output folder.") var out: String
    @Option(help: "Fashion-MNIST t10k images (the reference, control and transformed garments).") var test = FashionSplitBuilder.defaultTestFile
    @Option(parsing: .upToNextOption, help: "Colour photographs for the photo patches.") var photos: [String] = ["samples/photos"]
    @Option(help: "Images per set.") var count = 2_000
    @Option(help: "Seed of every random choice.") var seed: UInt64 = 0
    @Flag(help: "Also write each set as a folder of PNGs.") var png = false

    func validate() throws {
        try Check.exists("--test", test)
        for path in photos { try Check.exists("--photos", path) }
        for font in OutOfDistributionSetBuilder.handwritingFonts { try Check.exists("font", font.file) }
        try Check.count("--count", count, in: 1...5_000)
    }

    func run() throws {
        var builder = OutOfDistributionSetBuilder()
        builder.count = count
        builder.seed = seed
        builder.writesImages = png
        let files = try photos.flatMap { path -> [URL] in
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else { return [URL(fileURLWithPath: path)] }
            return try FileManager.default.contentsOfDirectory(atPath: path).sorted()
                .filter { [".jpg", ".jpeg", ".png"].contains(where: $0.lowercased().hasSuffix) }
                .map { URL(fileURLWithPath: path).appendingPathComponent($0) }
        }
        printReport(try builder.build(testFile: URL(fileURLWithPath: test), photos: files, into: URL(fileURLWithPath: out)))
    }
}
