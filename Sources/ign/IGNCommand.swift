import ArgumentParser
import Datasets
import Engine
import Foundation
import IGN
import Imaging
import Logging
import Pipeline

@main
struct IGNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ign",
        abstract: "Train Idempotent Generative Networks and run them as projectors over images, on the CPU.",
        subcommands: [DatasetCommand.self, TrainCommand.self, ApplyCommand.self, SampleCommand.self, InterpolateCommand.self, EvalCommand.self, CalibrateCommand.self, AverageCommand.self, TrainClassifierCommand.self, ModelsCommand.self, RunCommand.self, MergeCommand.self, ReportCommand.self, CorruptCommand.self, DriftCommand.self, BenchCommand.self, BenchPipelineCommand.self])

    /// Runs the command; every error ends here, in ``failure(for:)``.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }  // --help, --version
            let (status, message) = failure(for: error)
            printError(message)
            Foundation.exit(status.rawValue)
        }
    }
}

/// How ign fails: one line on stderr, `ign: MESSAGE`, and one of these exit statuses (0 is
/// success; `--help` and `--version` print as ArgumentParser does and exit 0).
///
/// A usage error prints that one line too, never the usage text (`ign COMMAND --help` shows
/// it), so every failure reads the same whether ArgumentParser, a `validate()` or the work
/// found it. A name on the command line that names nothing (no such file, no such bundled
/// model) is a usage error; a file that exists but cannot be used is fatal.
enum ExitStatus: Int32 {
    /// The work could not be done: a file cannot be read or is not what it should be (a
    /// corrupt model, data of the wrong shape), or an output cannot be written.
    case fatal = 1
    /// The command line is wrong: an unknown flag, a value that does not parse or is out of
    /// range, a path or model that does not exist, a refused pipeline file.
    case usage = 2
    /// A pipeline finished, but some inputs failed (each was reported as it failed).
    case inputsFailed = 3
}

/// The one mapping from errors to exit statuses and messages; a new error type gets its case here.
func failure(for error: Error) -> (status: ExitStatus, message: String) {
    switch error {
    case let error as PipelineError:
        return (error.code == .usage ? .usage : .fatal, error.message)
    case let error as InputsFailed:
        return (.inputsFailed, error.count == 1 ? "1 input failed" : "\(error.count) inputs failed")
    case let error as DatasetError where error.code == .invalidArgument:
        return (.usage, error.message)
    case is CommandError, is DatasetError, is ImagingError, is TensorFileError, is ModelError, is TrainingError, is ShapeError:
        return (.fatal, String(describing: error))
    default:
        // ArgumentParser's own errors (parsing, `validate()`, `ValidationError`), and anything else.
        let usage = IGNCommand.exitCode(for: error) == .validationFailure
        return (usage ? .usage : .fatal, IGNCommand.message(for: error))
    }
}

/// Prints `ign: message` on stderr: the one prefix of every error and failure ign reports.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("ign: \(terminalSafe(shortened(message)))\n".utf8))
}

/// The most characters of a message printed: a value typed or read into an error (a 50 MB
/// flag, a file's contents) is cut, not echoed whole.
let messageLimit = 2000

/// `message`, cut to ``messageLimit`` characters with a note of how much was left out.
func shortened(_ message: String) -> String {
    guard message.count > messageLimit else { return message }
    return message.prefix(messageLimit) + "… (\(message.count - messageLimit) more characters)"
}

/// `text` with every control character (C0, DEL and C1: escape sequences, bells, carriage
/// returns, newlines) written as `\u{…}`, so that a file name in a message can neither drive
/// the terminal nor break the one line an error takes.
func terminalSafe(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar.value {
        case 0..<0x20, 0x7F..<0xA0: out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// A pipeline run that finished with `count` inputs failed.
struct InputsFailed: Error {
    let count: Int
}

/// Options every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for the engine and OpenBLAS together (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws { try Check.count("--threads", threads, in: Check.threads) }
}

/// A logger writing to stderr; stdout stays machine-readable.
func makeLogger(_ label: String) -> Logger {
    LoggingSystem.bootstrapOnce()
    return Logger(label: label)
}

extension LoggingSystem {
    nonisolated(unsafe) private static var bootstrapped = false
    static func bootstrapOnce() {
        guard !bootstrapped else { return }
        bootstrapped = true
        bootstrap { StreamLogHandler.standardError(label: $0) }
    }
}

/// Makes sure the folder an output file goes into exists, before any work is done.
@discardableResult
func outputFile(_ path: String) throws -> URL {
    let url = URL(fileURLWithPath: path)
    do {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    } catch {
        throw CommandError("\(path): cannot create its folder: \(error.localizedDescription)")
    }
    return url
}

/// A fatal error of a command, for the user: printed as one line, exit code 1.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
