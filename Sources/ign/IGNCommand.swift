import ArgumentParser
import Engine
import Foundation
import Logging

@main
struct IGNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ign",
        abstract: "Train Idempotent Generative Networks and run them as projectors over images, on the CPU.",
        subcommands: [TrainCommand.self, ApplyCommand.self, SampleCommand.self, InterpolateCommand.self, EvalCommand.self, ModelsCommand.self, BenchCommand.self])
}

/// Options every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for the engine and OpenBLAS together (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func apply() { Parallel.setThreads(threads) }
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

/// Errors meant for the user: printed as one line, exit code 1.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
