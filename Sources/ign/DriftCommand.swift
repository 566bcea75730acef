import ArgumentParser
import Basics
import Engine
import Evaluation
import Foundation
import Imaging
import Pipeline

struct DriftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Measure drift ‖f(f(x)) − f(x)‖ and distance ‖f(x) − x‖ over a folder of images (no image outputs), or score it as out of distribution.",
        discussion: """
        Prints the summary JSON on stdout. With --output, metrics.jsonl and the summaries are kept there (and a rerun resumes).

        With --reference, --rank or --threshold the images are scored instead (INPUT and REF: a folder, or an NCHW .npy): \
        \(OutOfDistributionScore.allCases.map(\.rawValue).joined(separator: ", ")). Against --reference it prints, per score, \
        how well it separates INPUT from REF (AUROC, AUPR, false-positive rate at 95% true positives); --rank writes \
        OUTPUT/ranked.csv, most anomalous first; --fit-threshold P writes the threshold at P false positives on REF; \
        --threshold FILE flags inputs above a fitted threshold.
        """)

    @Argument(help: "Input folder (or, when scoring, an NCHW .npy).") var input: String
    @OptionGroup var model: ModelOptions
    @Option(name: .output, help: "Keep metrics.jsonl, errors.jsonl and the summaries in this folder (scoring: ranked.csv and scores.json).") var output: String?
    @Option(help: "How images meet the model's size.") var fit: Job.Fit = .cover
    @Option(help: "Applications of f before measuring.") var steps = 1
    @Option(help: "Corruptions applied first (repeatable); adds PSNR/SSIM against the clean image.", transform: corruptionChain)
    var corrupt: [[Corruption]] = []
    @Option(help: "Seed of the corruptions.") var seed: UInt64 = 0
    @Option(help: "In-distribution images (a folder or an .npy) to score INPUT against.") var reference: String?
    @Option(help: "The score that ranks and thresholds (default: \(OutOfDistributionScore.recommended.rawValue), ign's recommendation).")
    var score: OutOfDistributionScore?
    @Flag(help: "Write OUTPUT/ranked.csv: path, scores and rank, most anomalous first.") var rank = false
    @Option(name: .customLong("copy-top"), parsing: .upToNextOption, help: ArgumentHelp("Copy the K most anomalous inputs into DIR, named by rank.", valueName: "K DIR"))
    var copyTop: [String] = []
    @Option(name: .customLong("fit-threshold"), help: "Fit the threshold at this false-positive rate on REF and write it to --threshold-out.")
    var fitThreshold: Double?
    @Option(name: .customLong("threshold-out"), help: "Where --fit-threshold writes (and its reference codes beside it).") var thresholdOut = "threshold.json"
    @Option(help: "Flag inputs above the threshold in this file (from --fit-threshold).") var threshold: String?
    @Option(help: "Also write the scoring figures to this JSON file.") var json: String?
    @OptionGroup var options: PipelineOptions

    var scoring: Bool { reference != nil || rank || threshold != nil || !copyTop.isEmpty || fitThreshold != nil || json != nil }

    func validate() throws {
        try Check.count("--steps", steps, in: Check.steps)
        guard scoring else { return }
        try Check.exists("input", input)
        if let reference { try Check.exists("--reference", reference) }
        if let threshold { try Check.exists("--threshold", threshold) }
        if rank && output == nil { throw ValidationError("--rank writes OUTPUT/ranked.csv: give --output") }
        if !copyTop.isEmpty {
            guard copyTop.count == 2, let k = Int(copyTop[0]), k > 0 else { throw ValidationError("--copy-top takes a count and a folder: --copy-top 20 suspects") }
        }
        if let fitThreshold {
            try Check.number("--fit-threshold", fitThreshold, in: 0..<1)
            if reference == nil { throw ValidationError("--fit-threshold needs --reference") }
        }
        if reference == nil && threshold == nil && (score ?? .recommended).needsReference {
            throw ValidationError("the \((score ?? .recommended).rawValue) score needs --reference (or a --threshold file); --score drift needs none")
        }
        if threshold != nil && (score != nil || fitThreshold != nil) {
            throw ValidationError("--threshold brings its own score; leave out --score and --fit-threshold")
        }
    }

    func run() throws {
        if scoring { return try runScoring() }
        let folder = output ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("ign-drift-\(ProcessInfo.processInfo.processIdentifier)").path
        defer { if output == nil { try? FileManager.default.removeItem(atPath: folder) } }
        var job = Job(input: input, output: folder, model: model.nameOrPath)
        job.fit = fit
        job.steps = steps
        job.corruptions = corrupt.flatMap { $0 }
        job.seed = seed
        job.artifacts = []
        job.measures = job.corruptions.isEmpty ? [.drift, .distance] : Job.Measure.defaults
        options.apply(to: &job)
        _ = try runPipeline(job, force: options.force || output == nil, quiet: options.quiet, keepsFolder: output != nil)
    }

    private func runScoring() throws {
        let network = try model.load()
        let threads = options.threads.map { $0 == 0 ? ProcessInfo.processInfo.activeProcessorCount : $0 } ?? ProcessInfo.processInfo.activeProcessorCount
        let scorer = OutOfDistributionScorer(projector: makeProjector(network, statistics: options.statistics ?? .projection, threads: threads))
        var inputs = try ScoredSet(input, scorer: scorer)
        for failure in inputs.failures { printError("\(failure.path): \(failure.message) (skipped)") }
        guard inputs.count > 0 else { throw CommandError("\(input): no image could be scored") }

        var summary: [String: Any] = ["inputs": inputs.count, "failures": inputs.failures.map { ["path": $0.path, "message": $0.message] }]
        var chosen = score ?? .recommended
        var flagAbove: Double?
        if let threshold {
            let url = URL(fileURLWithPath: threshold)
            let file = try JSONDecoder().decode(ThresholdFile.self, from: Data(contentsOf: url))
            if let fitted = try file.reference(besides: url) {
                guard fitted.codeLength == inputs.images[0].code.count else {
                    throw CommandError("\(threshold): fitted on codes of \(fitted.codeLength) numbers; \(model.nameOrPath) makes \(inputs.images[0].code.count)")
                }
                fitted.score(&inputs.images)
            }
            chosen = file.score
            flagAbove = file.threshold
            let flagged = inputs.images.indices.filter { inputs.images[$0].scores[chosen]! > file.threshold }
            summary["threshold"] = ["file": threshold, "score": chosen.rawValue, "value": file.threshold] as [String: Any]
            summary["flagged"] = flagged.count
            summary["flagged_paths"] = flagged.map { inputs.names[$0] }
        }
        if let reference {
            var ref = try ScoredSet(reference, scorer: scorer)
            for failure in ref.failures { printError("\(failure.path): \(failure.message) (skipped)") }
            guard ref.count >= 2 else { throw CommandError("\(reference): fewer than two images could be scored") }
            let fitted = OutOfDistributionReference(&ref.images)
            if threshold == nil { fitted.score(&inputs.images) }
            var auroc: [String: Double] = [:], aupr: [String: Double] = [:], fpr: [String: Double] = [:]
            let pad = { (text: String) in text.padding(toLength: 18, withPad: " ", startingAt: 0) }
            printError(pad("score") + "    AUROC     AUPR  FPR@95TPR")
            for name in OutOfDistributionScore.allCases {
                let separation = Separation(positives: inputs.images.map { $0.scores[name]! }, negatives: ref.images.map { $0.scores[name]! })
                auroc[name.rawValue] = separation.auroc; aupr[name.rawValue] = separation.aupr; fpr[name.rawValue] = separation.fprAt95TPR
                printError(pad(name.rawValue) + String(format: " %8.4f %8.4f %10.4f", separation.auroc, separation.aupr, separation.fprAt95TPR)
                           + (name == chosen ? "  (ranks)" : ""))
            }
            summary["reference"] = ref.count
            summary["reference_failures"] = ref.failures.map { ["path": $0.path, "message": $0.message] }
            summary["auroc"] = auroc; summary["aupr"] = aupr; summary["fpr_at_95_tpr"] = fpr
            if let fitThreshold {
                let value = ThresholdCalibration.threshold(atFalsePositiveRate: fitThreshold, of: ref.images.map { $0.scores[chosen]! })
                let above = Double(ref.images.filter { $0.scores[chosen]! > value }.count) / Double(ref.count)
                let out = try outputFile(thresholdOut)
                var file = ThresholdFile(score: chosen, threshold: value, falsePositiveRate: fitThreshold, referenceFalsePositives: above,
                                         model: model.nameOrPath, reference: reference, referenceCount: ref.count, codes: nil,
                                         codeLength: fitted.codeLength, logMean: [:], logStd: [:])
                if chosen.needsReference {
                    let codes = out.deletingPathExtension().lastPathComponent + ".codes.npy"
                    try NPY.write(fitted.codes, shape: [ref.count, fitted.codeLength], to: out.deletingLastPathComponent().appendingPathComponent(codes))
                    file.codes = codes
                    for (score, stats) in fitted.logStatistics { file.logMean[score.rawValue] = stats.mean; file.logStd[score.rawValue] = stats.std }
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(try encoder.encode(file), to: out)
                summary["fitted_threshold"] = ["file": out.path, "score": chosen.rawValue, "value": value, "reference_false_positives": above] as [String: Any]
                flagAbove = flagAbove ?? value
            }
        }
        summary["score"] = chosen.rawValue
        if let output {
            let folder = URL(fileURLWithPath: output)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            if rank { summary["ranked"] = folder.appendingPathComponent("ranked.csv").path }
        }
        let order: [Int] = try {
            guard rank, let output else { return rankingOrder(inputs.images, by: chosen) }
            return try writeRanking(inputs.names, inputs.images, by: chosen, flaggedAbove: flagAbove,
                                    to: URL(fileURLWithPath: output).appendingPathComponent("ranked.csv"))
        }()
        if copyTop.count == 2, let k = Int(copyTop[0]) {
            summary["copied"] = try copyMostAnomalous(order.prefix(k).map { $0 }, of: inputs, into: URL(fileURLWithPath: copyTop[1]))
        }
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
        if let json { try AtomicFile.write(data, to: try outputFile(json)) }
        if let output { try AtomicFile.write(data, to: URL(fileURLWithPath: output).appendingPathComponent("scores.json")) }
        print(String(decoding: data, as: UTF8.self))
    }

    /// Copies the inputs at `indices` (most anomalous first) into `folder` as `RANK-NAME`.
    private func copyMostAnomalous(_ indices: [Int], of inputs: ScoredSet, into folder: URL) throws -> Int {
        guard let root = inputs.root else { throw CommandError("--copy-top copies files: INPUT must be a folder, not an array") }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (rank, i) in indices.enumerated() {
            let name = String(format: "%04d-", rank + 1) + inputs.names[i].replacingOccurrences(of: "/", with: "_")
            let data = try Data(contentsOf: root.appendingPathComponent(inputs.names[i]))
            try AtomicFile.write(data, to: folder.appendingPathComponent(name))
        }
        return indices.count
    }
}
