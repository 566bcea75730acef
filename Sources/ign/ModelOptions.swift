import ArgumentParser
import Foundation
import IGN

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
