import Foundation
import IGN

/// Resolves `--model`: a path to a safetensors file or the name of a bundled model.
func loadModel(_ nameOrPath: String) throws -> IGNModel {
    try BundledModels.load(nameOrPath)
}
