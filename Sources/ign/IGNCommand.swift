import ArgumentParser
import Foundation
import Logging

@main
struct IGNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ign",
        abstract: "Train Idempotent Generative Networks and run them as projectors over images, on the CPU.",
        subcommands: [DatasetCommand.self, TrainCommand.self, ApplyCommand.self, SampleCommand.self, InterpolateCommand.self, EvalCommand.self, CalibrateCommand.self, ModelsCommand.self, RunCommand.self, CorruptCommand.self, DriftCommand.self, BenchCommand.self, BenchPipelineCommand.self])

    /// Exit codes: 0 done, 1 fatal error, 2 usage error (bad flags or values), others as commands say.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Options every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for the engine and OpenBLAS together (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount
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

/// Errors meant for the user: printed as one line, exit code 1.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
