import ArgumentParser
import Basics
import Engine
import Evaluation
import Foundation
import IGN
import Report

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure a model on held-out data: reconstruction, drift, denoising vs libvips baselines, colorization, sketches, sample quality.",
        discussion: """
            Sample quality: the Fréchet distance of f(z), f(f(z)), f(f(f(z))) to the test split in a feature space, for every set \
            of BatchNorm statistics (generation when the file has one, projection, batch statistics in batches of 64), beside \
            anchors (--train vs test, the test split blurred, the noise itself). The features (--features): a classifier's 128 \
            penultimate activations (the bundled Fashion-MNIST classifier for 1×28×28 models, or --classifier), with the class \
            shares of the samples; or, for other images, image statistics standardised on the test split (colour layout at 4×4, \
            contrast, detail at two scales, colourfulness): they tell colours, contrast and sharpness, not whether a sample shows \
            anything recognisable.
            """)

    /// The feature space of the sample quality.
    enum Features: String, ExpressibleByArgument, CaseIterable {
        /// A classifier where there is one (--classifier, or bundled for the shape), image statistics otherwise.
        case auto, classifier
        case imageStatistics = "image-statistics"
    }

    @OptionGroup var model: ModelOptions
    @Option(help: "Held-out test data (IDX or .npy).") var data: String
    @Option(help: "Validation data for tuning the blur baseline (default: the test data).") var val: String?
    @Option(help: "Use only the first N test samples (not for the sample quality, which compares with the whole split).") var limit: Int?
    @Flag(name: .customLong("train-mode"), help: "Use batch statistics instead of running statistics (as --statistics batch).") var trainMode = false
    @Option(help: statisticsHelp(default: .projection)) var statistics: StatisticsSet = .projection
    @Option(help: "Training data (IDX or .npy): its first --samples images give the train-vs-test anchor of the sample quality.") var train: String?
    @Option(help: "Samples from noise for the sample quality (0: leave it out).") var samples = 10_000
    @Option(name: .customLong("sample-seed"), help: "Noise seed of the sample quality.") var sampleSeed: UInt64 = 1
    @Option(help: "Feature space of the sample quality: auto (a classifier where there is one, image statistics otherwise), classifier, image-statistics.")
    var features: Features = .auto
    @Option(help: "Classifier whose features measure samples (default: the bundled one for 1×28×28 models).") var classifier: String?
    @Option(help: "Also write the report as JSON here.") var json: String?
    @Option(help: "Also write the report as a page here (FILE.html), with sheets beside it: samples f(z), f²(z), f³(z), and clean | noisy σ 0.2 | f(noisy) for the first test images.")
    var html: String?
    @Option(help: "Seed of the synthetic corruptions.") var seed: UInt64 = 0
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try Check.exists("--data", data)
        if let val { try Check.exists("--val", val) }
        if let limit { try Check.count("--limit", limit, in: 1...Int.max) }
        if let train { try Check.exists("--train", train) }
        if let classifier { try Check.exists("--classifier", classifier) }
        guard samples == 0 || (2...1_000_000).contains(samples) else {
            throw ValidationError("--samples must be 0 (no sample quality) or 2...1000000, got \(samples)")
        }
    }

    func run() throws {
        let model = try self.model.load()
        let test = try Dataset.load(URL(fileURLWithPath: data))
        let validation = try val.map { try Dataset.load(URL(fileURLWithPath: $0)) }
        var options = EvaluationOptions()
        options.limit = limit; options.statistics = trainMode ? .batch : statistics; options.seed = seed
        if let note = model.resolve(options.statistics).note { printError("note: \(note)") }
        var report = try Evaluator(model: model, options: options, threads: compute.threads)
            .evaluate(test: test, validation: validation, name: (self.model.nameOrPath as NSString).lastPathComponent)
        if samples > 0 {
            var quality = SampleQuality(model: model, features: try sampleFeatures(for: model, test: test), threads: compute.threads)
            quality.count = samples; quality.seed = sampleSeed
            report.sampleQuality = try quality.evaluate(test: test,
                                                        train: try train.map { try Dataset.load(URL(fileURLWithPath: $0)) })
        }
        print(report.table)
        if let html { try writePage(report, model: model, test: test, to: html) }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(report), to: try outputFile(json))
        }
    }

    /// The feature space `--features` and `--classifier` name for `model`'s samples.
    private func sampleFeatures(for model: IGNModel, test: Dataset) throws -> any SampleFeatures {
        let named = try classifier.map { try Classifier.load(URL(fileURLWithPath: $0)) } ?? Classifier.bundled(for: model.sampleShape)
        switch (features, named) {
        case (.imageStatistics, _), (.auto, nil):
            return ImageStatistics(reference: test.values, count: test.count, shape: test.shape)
        case (_, let classifier?):
            return classifier
        case (.classifier, nil):
            throw CommandError("no bundled classifier for \(model.sampleShape) images: give --classifier, or --features image-statistics")
        }
    }

    /// The table as a page, with two sheets made here beside it (`FILE-samples.png`, `FILE-denoise.png`).
    private func writePage(_ report: EvaluationReport, model: IGNModel, test: Dataset, to path: String) throws {
        let page = try outputFile(path)
        let stem = page.deletingPathExtension().lastPathComponent, folder = page.deletingLastPathComponent()
        let shape = model.sampleShape, count = min(8, test.count)
        let projector = Projector(model: model, threads: compute.threads, statistics: .generation)
        let z = try model.drawNoise(count: count, seed: sampleSeed)
        try writeGrid(projector.apply(z, count: count, steps: 3), shape: shape, count: count, columns: count, scale: nil,
                      to: folder.appendingPathComponent(stem + "-samples.png").path)
        let clean = Array(test.values.prefix(count * shape.count))
        var noisy = clean, rng = RandomSource(seed: seed)
        PixelNoise.add(to: &noisy, sigma: 0.2, rng: &rng)
        let projected = Projector(model: model, threads: compute.threads, statistics: trainMode ? .batch : statistics).apply(noisy, count: count, steps: 1)[0]
        try writeGrid([clean, noisy, projected], shape: shape, count: count, columns: count, scale: nil,
                      to: folder.appendingPathComponent(stem + "-denoise.png").path)
        try EvalPage.build(name: (self.model.nameOrPath as NSString).lastPathComponent, table: report.table, sheets: [
            .init(id: "samples", heading: "Samples: rows f(z), f²(z), f³(z) (generation statistics)", file: stem + "-samples.png"),
            .init(id: "denoise", heading: "Denoising: rows clean, noisy σ 0.2, f(noisy)", file: stem + "-denoise.png"),
        ], to: page)
    }
}
