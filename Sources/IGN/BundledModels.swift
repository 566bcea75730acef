import Engine
import Foundation

/// The models shipped inside the package (trained by ign itself), and `--model` resolution.
public enum BundledModels {
    /// The folder holding the bundled `NAME.safetensors` files and `NAME.md` model cards.
    public static var directory: URL? { Bundle.module.url(forResource: "Models", withExtension: nil) }

    /// Names of the bundled models, sorted.
    public static var names: [String] {
        guard let dir = directory,
              let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        return files.filter { $0.hasSuffix(".safetensors") }.map { String($0.dropLast(".safetensors".count)) }.sorted()
    }

    /// The model card of a bundled model.
    public static func card(_ name: String) -> String? {
        directory.flatMap { try? String(contentsOf: $0.appendingPathComponent("\(name).md"), encoding: .utf8) }
    }

    /// `--model` takes the name of a bundled model or a path to a safetensors file. A bare
    /// name (no `/`, no extension) always means the bundled model, whatever lies in the current
    /// folder under that name; a file of that name needs `./NAME`.
    public static func resolve(_ nameOrPath: String) throws -> URL {
        let bare = !nameOrPath.contains("/") && !nameOrPath.contains(".")
        if bare, let dir = directory, names.contains(nameOrPath) {
            return dir.appendingPathComponent("\(nameOrPath).safetensors")
        }
        if FileManager.default.fileExists(atPath: nameOrPath) { return URL(fileURLWithPath: nameOrPath) }
        let known = names.isEmpty ? "none bundled yet" : "bundled: \(names.joined(separator: ", "))"
        throw ModelError("\(nameOrPath): no such model file or bundled model (\(known))")
    }

    /// Loads a model by path or bundled name; a training checkpoint loads as its model.
    public static func load(_ nameOrPath: String) throws -> IGNModel {
        let url = try resolve(nameOrPath)
        return try IGNModel.load(Checkpoint.modelPart(of: SafeTensors.read(url)), path: url.path)
    }
}
