import ArgumentParser
import Foundation
import IGN
import Pipeline
import Report
#if canImport(Glibc)
import Glibc
#endif

/// Runs a pipeline job with progress on stderr and the summary JSON on stdout, and writes the
/// folder's report.html (unless the folder is a temporary one); throws
/// ``InputsFailed`` when it finished with some inputs failed.
func runPipeline(_ job: Job, force: Bool, quiet: Bool, keepsFolder: Bool = true, waitsForLock: Bool = false) throws -> RunReport {
    let display = ProgressDisplay(quiet: quiet, showsFolder: keepsFolder)
    let runner = PipelineRunner(job: job, force: force, waitsForLock: waitsForLock)
    runner.onProgress = display.update
    runner.onFailure = display.report
    runner.onNote = { printError("note: \($0)") }
    let report: RunReport
    do {
        report = try runner.run()
    } catch {
        display.clear()
        throw error
    }
    display.finish(report)
    if keepsFolder && job.shard == nil {  // a shard's report is the merged run's
        let p = report.progress
        do {
            try RunPage.build(folder: report.output, timing: RunTiming(seconds: p.elapsed, images: p.done + p.failed, skipped: p.skipped))
        } catch {
            printError("note: the report was not written: \(error)")
        }
    }
    print(report.summary.json, terminator: "")
    if report.summary.failures > 0 { throw InputsFailed(count: report.summary.failures) }
    return report
}

/// Flags shared by the pipeline commands.
struct PipelineOptions: ParsableArguments {
    @Option(help: "Decode/encode threads (default, or 0: one per core).") var workers: Int?
    @Option(help: "Network threads (default, or 0: one per core).") var threads: Int?
    @Option(help: "Samples (images or tiles) per network call.") var batch: Int?
    @Option(help: "BatchNorm statistics: projection (on data) or generation (on f's chain from noise) (overrides the file's; default projection).")
    var statistics: StatisticsSet?
    @Option(help: "Only files matching this glob (repeatable; `*.jpg`, `photos/**/*.png`).") var include: [String] = []
    @Option(help: "Leave out files matching this glob (repeatable).") var exclude: [String] = []
    @Flag(help: "Redo every image instead of resuming what an earlier run left.") var force = false
    @Flag(name: [.short, .long], help: "No progress or summary on stderr (failures are still reported).") var quiet = false

    /// Thread counts pipeline files allow; 0 means one per core.
    static let threadCounts = 0...256

    func validate() throws {
        if let workers { try Check.count("--workers", workers, in: PipelineOptions.threadCounts) }
        if let threads { try Check.count("--threads", threads, in: PipelineOptions.threadCounts) }
        if let batch { try Check.count("--batch", batch, in: Check.batch) }
        if statistics == .batch {
            throw ValidationError("--statistics \(Job.batchStatisticsRefusal): use projection or generation")
        }
    }

    func apply(to job: inout Job) {
        if let workers { job.workers = workers }
        if let threads { job.threads = threads }
        if let batch { job.batch = batch }
        if let statistics { job.statistics = statistics }
        if !include.isEmpty { job.include = include }
        if !exclude.isEmpty { job.exclude = exclude }
    }
}

/// Progress on stderr: a live bar on a terminal, a plain line every few seconds otherwise,
/// nothing when quiet. Failures are printed as they happen, one line each.
final class ProgressDisplay: @unchecked Sendable {
    private let quiet: Bool
    private let showsFolder: Bool
    private let live = isatty(STDERR_FILENO) != 0
    private let lock = NSLock()
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(quiet: Bool, showsFolder: Bool) {
        self.quiet = quiet
        self.showsFolder = showsFolder
    }

    func update(_ progress: RunProgress) {
        guard !quiet else { return }
        lock.lock()
        defer { lock.unlock() }
        let interval: TimeInterval = live ? 0.1 : 5
        guard Date().timeIntervalSince(lastDraw) >= interval else { return }
        lastDraw = Date()
        draw(progress)
    }

    func report(_ failure: FailureRecord) {
        lock.lock()
        defer { lock.unlock() }
        clearLocked()
        printError("\(failure.path): \(failure.code): \(failure.message)")
    }

    func clear() {
        lock.lock()
        defer { lock.unlock() }
        clearLocked()
    }

    func finish(_ report: RunReport) {
        guard !quiet else { return }
        lock.lock()
        defer { lock.unlock() }
        draw(report.progress)
        if live { write("\n") }
        drawn = false
        let p = report.progress
        var lines = ["\(p.done) done, \(p.failed) failed, \(p.skipped) already done, in \(ProgressDisplay.time(p.elapsed))"
                     + " (\(ProgressDisplay.rate(p.rate)) img/s, \(report.workers) workers, \(report.threads) network threads)"]
        lines.append(report.summary.text)
        if showsFolder { lines.append("results in \(terminalSafe(report.output.path))") }
        write(lines.joined(separator: "\n") + "\n")
    }

    private func draw(_ p: RunProgress) {
        let finished = p.done + p.failed
        let fraction = p.total > 0 ? Double(finished) / Double(p.total) : 1
        let eta = p.eta.map { "ETA " + ProgressDisplay.time($0) } ?? "ETA -"
        let failures = p.failed > 0 ? ", \(p.failed) failed" : ""
        let rate = ProgressDisplay.rate(p.rate)
        let figures = "\(finished)/\(p.total) \(Int(fraction * 100))%  \(rate) img/s  \(eta)\(failures)"
        if live {
            let width = max(10, min(40, ProgressDisplay.terminalWidth() - figures.count - 4))
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            write("\r[\(bar)] \(figures)\u{1B}[K")
            drawn = true
        } else {
            write("ign: " + figures + "\n")
        }
    }

    private func clearLocked() {
        if drawn { write("\r\u{1B}[K") }
        drawn = false
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    static func rate(_ imagesPerSecond: Double) -> String {
        String(format: imagesPerSecond < 10 ? "%.2f" : "%.1f", imagesPerSecond)
    }

    static func time(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    static func terminalWidth() -> Int {
        var size = winsize()
        return ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }
}
