import ArgumentParser
import Foundation
import IGN
import Imaging

/// `--model`, for every command that runs a model: a bundled model's name or a safetensors file.
struct ModelOptions: ParsableArguments {
    /// The help text, also for the commands whose `--model` overrides a pipeline file's.
    static let help = "A bundled model's name (see `ign models`), or a .safetensors file (a path with a `/` or an extension)."

    @Option(name: .customLong("model"), help: ArgumentHelp(ModelOptions.help)) var nameOrPath: String

    func validate() throws { try ModelOptions.check(nameOrPath) }

    /// Loads the model (a file that is not a model is a fatal error, not a usage error).
    func load() throws -> IGNModel { try BundledModels.load(nameOrPath) }

    /// Refuses a name that is neither a file nor a bundled model.
    static func check(_ nameOrPath: String) throws {
        do {
            _ = try BundledModels.resolve(nameOrPath)
        } catch let error as ModelError {
            throw ValidationError("--model \(error.description)")
        }
    }
}

extension StatisticsSet: ExpressibleByArgument {}

/// Help for `--statistics`, naming the command's default.
func statisticsHelp(default set: StatisticsSet) -> ArgumentHelp {
    ArgumentHelp("BatchNorm statistics: generation (estimated on f's chain from noise), projection (on data) or batch (each network call's own); default \(set.rawValue).")
}

/// A projector with the `requested` statistics; a model without a generation set falls back
/// to its projection set, which is said once on stderr.
func makeProjector(_ model: IGNModel, statistics requested: StatisticsSet, threads: Int) -> Projector {
    if let note = model.resolve(requested).note { printError("note: \(note)") }
    return Projector(model: model, threads: threads, statistics: requested)
}

extension Check {
    /// `path` ends in an image extension ign writes, or in `.npy`.
    static func imageOrArray(_ option: String, _ path: String) throws {
        guard isArray(path) || ImageFormat(pathExtension: URL(fileURLWithPath: path).pathExtension) != nil else {
            throw ValidationError("\(option) \(path): the extension must be npy or \(ImageFormat.names)")
        }
    }

    /// `path` names an `.npy` file.
    static func isArray(_ path: String) -> Bool { URL(fileURLWithPath: path).pathExtension.lowercased() == "npy" }

    /// Samples × applications × floats per sample an `.npy` of samples may hold (1 GiB of float32).
    static let sampleFloats = 1 << 28
}
