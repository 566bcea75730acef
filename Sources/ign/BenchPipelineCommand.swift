import ArgumentParser
import Basics
import Foundation
import IGN
import Imaging
import Pipeline
import Report

struct BenchPipelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-pipeline",
        abstract: "Measure the folder pipeline end to end: img/s and peak memory over generated images.",
        discussion: """
            Generates small PNGs in nested folders, then runs decode → noise → fit → f (+ f for drift) → \
            metrics → PNG for each image count and worker/thread setting. Peak RSS is VmHWM, reset before each run.
            """)

    @Option(help: "Image counts (repeatable).") var count: [Int] = [1000, 10000]
    @Option(help: "Side of the generated images in pixels.") var size = 48
    @Option(help: ArgumentHelp(ModelOptions.help + " (default: dcgan32 with 3 channels and random weights)")) var model: String?
    @Option(help: "How images meet the model's size.") var fit: Job.Fit = .cover
    @Option(help: "Decode/encode thread counts to try (repeatable; 0 = one per core).") var workers: [Int] = [0]
    @Option(help: "Network thread counts to try (repeatable; 0 = one per core).") var threads: [Int] = [0]
    @Option(help: "Samples per network call.") var batch = 64
    @Option(help: "Work folder (default: a temporary folder, removed afterwards).") var scratch: String?
    @Flag(help: "Also write strips and build each run's report.html; print its build time (against the run's) and size.")
    var report = false

    func validate() throws {
        for n in count { try Check.count("--count", n, in: 1...100_000) }
        try Check.count("--size", size, in: 1...2048)
        if let model { try ModelOptions.check(model) }
        for w in workers { try Check.count("--workers", w, in: PipelineOptions.threadCounts) }
        for t in threads { try Check.count("--threads", t, in: PipelineOptions.threadCounts) }
        try Check.count("--batch", batch, in: Check.batch)
    }

    func run() throws {
        let root = URL(fileURLWithPath: scratch ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("ign-bench-pipeline-\(ProcessInfo.processInfo.processIdentifier)").path)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { if scratch == nil { try? FileManager.default.removeItem(at: root) } }

        var modelPath = model
        if modelPath == nil {
            let network = try IGNModel(architecture: .dcgan32, channels: 3)
            network.initialize(seed: 1)
            let url = root.appendingPathComponent("dcgan32.safetensors")
            try network.save(to: url)
            modelPath = url.path
        }
        print("images  size  fit     workers  threads  seconds    img/s  peak RSS MiB" + (report ? "  report s  % of run  HTML KiB" : ""))
        fflush(stdout)
        for n in count {
            let images = root.appendingPathComponent("images-\(n)")
            try generate(n, into: images)
            for w in workers {
                for t in threads {
                    var job = Job(input: images.path, output: root.appendingPathComponent("out-\(n)-\(w)-\(t)").path, model: modelPath)
                    job.fit = fit
                    job.corruptions = [.noise(sigma: 0.1)]
                    job.workers = w
                    job.threads = t
                    job.batch = batch
                    if report { job.artifacts = [.output, .strip] }
                    resetPeakMemory()
                    let start = Date()
                    let report = try PipelineRunner(job: job, force: true).run()
                    let seconds = Date().timeIntervalSince(start)
                    let rate = Double(report.progress.done) / seconds
                    var line = String(format: "%6d  %4d  ", n, size) + fit.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)
                        + String(format: "  %7d  %7d  %7.2f  %7.1f  %12.1f", report.workers, report.threads, seconds, rate,
                                 Double(peakMemory()) / 1_048_576)
                    if self.report {
                        let page = try RunPage.build(folder: report.output, timing: RunTiming(seconds: seconds, images: report.progress.done, skipped: 0))
                        let bytes = (try FileManager.default.attributesOfItem(atPath: page.page.path)[.size] as? Int) ?? 0
                        line += String(format: "  %8.2f  %8.1f  %8.0f", page.seconds, 100 * page.seconds / seconds, Double(bytes) / 1024)
                    }
                    print(line)
                    fflush(stdout)
                    try? FileManager.default.removeItem(atPath: job.output)
                }
            }
        }
    }

    /// `count` smooth colour PNGs, 100 per folder.
    private func generate(_ count: Int, into folder: URL) throws {
        var rng = RandomSource(seed: 7)
        for i in 0..<count {
            let directory = folder.appendingPathComponent(String(format: "d%03d", i / 100))
            if i % 100 == 0 { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
            let phase = (0..<3).map { _ in Float(rng.next() % 1000) / 160 }
            var pixels = [Float](repeating: 0, count: 3 * size * size)
            for c in 0..<3 {
                for y in 0..<size {
                    for x in 0..<size {
                        pixels[(c * size + y) * size + x] = sinf(Float(x) / 5 + phase[c]) * cosf(Float(y) / 7 - phase[c])
                    }
                }
            }
            try PlanarImage(width: size, height: size, channels: 3, pixels: pixels)
                .write(to: directory.appendingPathComponent(String(format: "%05d.png", i)))
        }
    }

    /// Resets the kernel's record of peak resident memory (VmHWM) for this process.
    private func resetPeakMemory() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// Peak resident memory (VmHWM) in bytes.
    private func peakMemory() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else { return 0 }
        return kib * 1024
    }
}
