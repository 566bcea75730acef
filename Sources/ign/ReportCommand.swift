import ArgumentParser
import Foundation
import IGN
import Imaging
import Report

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Rebuild report.html of a run folder, or draw the page of a training run.",
        discussion: """
            A folder: rebuilds its report.html from metrics.jsonl, errors.jsonl, summary.json and pipeline.json \
            (`ign run` writes it itself; this is for resumed or merged runs); thumbnails are made only where \
            missing or older than their image. A training run (its model path OUTPUT.safetensors or its \
            OUTPUT.train.jsonl): writes OUTPUT.train.html with the loss curves and a sample grid of every \
            snapshot OUTPUT-stepN.safetensors.
            """)

    @Argument(help: "An ign run's output folder, or a training run's OUTPUT.safetensors / OUTPUT.train.jsonl.") var target: String
    @Option(help: "Samples per snapshot grid (training runs).") var samples = 16
    @OptionGroup var compute: ComputeOptions

    func validate() throws { try Check.count("--samples", samples, in: 1...256) }

    func run() throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isFolder), isFolder.boolValue {
            let outcome = try RunPage.build(folder: URL(fileURLWithPath: target, isDirectory: true))
            printError("wrote \(outcome.page.path) (\(outcome.pages) gallery page(s), \(outcome.thumbnailsMade) new thumbnail(s)) in \(String(format: "%.2f", outcome.seconds)) s")
            return
        }
        let stem = target.hasSuffix(".train.jsonl") ? String(target.dropLast(".train.jsonl".count)) : (target as NSString).deletingPathExtension
        let log = URL(fileURLWithPath: stem + ".train.jsonl")
        guard FileManager.default.fileExists(atPath: log.path) else {
            throw CommandError("\(target): neither a run folder nor a training run (no \(log.path))")
        }
        let folder = log.deletingLastPathComponent(), base = (stem as NSString).lastPathComponent
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let steps = files.compactMap { name -> Int? in
            guard name.hasPrefix(base + "-step"), name.hasSuffix(".safetensors") else { return nil }
            return Int(name.dropFirst((base + "-step").count).dropLast(".safetensors".count))
        }.sorted()
        var snapshots: [TrainingPage.Snapshot] = []
        for step in steps {
            let grid = "\(base).train-report/step\(step).png"
            let gridURL = folder.appendingPathComponent(grid), model = folder.appendingPathComponent("\(base)-step\(step).safetensors")
            if !FileManager.default.fileExists(atPath: gridURL.path) {
                let snapshot = try BundledModels.load(model.path)
                let z = try snapshot.drawNoise(count: samples, seed: 0)
                let x = Projector(model: snapshot, threads: compute.threads, statistics: .generation).apply(z, count: samples, steps: 1)
                try FileManager.default.createDirectory(at: gridURL.deletingLastPathComponent(), withIntermediateDirectories: true)
                try writeGrid(x, shape: snapshot.sampleShape, count: samples, columns: min(8, samples), scale: nil, to: gridURL.path)
            }
            snapshots.append(.init(step: step, grid: grid))
        }
        let page = try TrainingPage.build(log: log, snapshots: snapshots)
        printError("wrote \(page.path) (\(snapshots.count) snapshot grid(s))")
    }
}
