import Foundation
import IGN

/// Resolves `--model`: a path to a safetensors file.
func loadModel(_ nameOrPath: String) throws -> IGNModel {
    let url = URL(fileURLWithPath: nameOrPath)
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw CommandError("\(nameOrPath): no such model file")
    }
    return try IGNModel.load(url)
}
