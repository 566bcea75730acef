import ArgumentParser
import Foundation
import Imaging
import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// Runs a pipeline job with progress on stderr and the summary JSON on stdout, mapping the
/// outcome to ign's exit codes: 0 all done, 1 fatal, 2 usage, 3 done with some inputs failed.
func runPipeline(_ job: Job, force: Bool, quiet: Bool, keepsFolder: Bool = true) throws -> RunReport {
    let display = ProgressDisplay(quiet: quiet, showsFolder: keepsFolder)
    let runner = PipelineRunner(job: job, force: force)
    runner.onProgress = display.update
    runner.onFailure = display.report
    let report: RunReport
    do {
        report = try runner.run()
    } catch let error as PipelineError {
        display.clear()
        printError(error.message)
        throw ExitCode(error.code == .usage ? 2 : 1)
    }
    display.finish(report)
    print(report.summary.json, terminator: "")
    if report.summary.failures > 0 { throw ExitCode(3) }
    return report
}

/// Prints `ign: message` on stderr.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("ign: \(message)\n".utf8))
}

/// Flags shared by the pipeline commands.
struct PipelineOptions: ParsableArguments {
    @Option(help: "Decode/encode threads (default: one per core).") var workers: Int?
    @Option(help: "Network threads (default: one per core).") var threads: Int?
    @Option(help: "Samples (images or tiles) per network call.") var batch: Int?
    @Option(help: "Only files matching this glob (repeatable; `*.jpg`, `photos/**/*.png`).") var include: [String] = []
    @Option(help: "Leave out files matching this glob (repeatable).") var exclude: [String] = []
    @Flag(help: "Redo every image instead of resuming what an earlier run left.") var force = false
    @Flag(name: [.short, .long], help: "No progress or summary on stderr (failures are still reported).") var quiet = false

    func apply(to job: inout Job) {
        if let workers { job.workers = workers }
        if let threads { job.threads = threads }
        if let batch { job.batch = batch }
        if !include.isEmpty { job.include = include }
        if !exclude.isEmpty { job.exclude = exclude }
    }
}

/// Parses `--corrupt` values (each a spec or a comma-separated chain); exits 2 on a bad one.
func parseCorruptions(_ specs: [String]) throws -> [Corruption] {
    do {
        return try specs.flatMap { try Corruption.parseChain($0) }
    } catch let error as ImagingError {
        printError(error.message)
        throw ExitCode(2)
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
        if showsFolder { lines.append("results in \(report.output.path)") }
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

/// The image format named by `text` (png, jpg, webp, tif); exits 2 otherwise.
func outputFormat(_ text: String) throws -> ImageFormat {
    guard let format = ImageFormat(pathExtension: text) else {
        printError("format must be png, jpg, webp or tif, got \"\(text)\"")
        throw ExitCode(2)
    }
    return format
}
