import ArgumentParser
import Foundation
import IGN

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List the bundled models, or show one's model card.")

    @Argument(help: "A bundled model's name: show its card.") var name: String?

    func validate() throws {
        if let name, BundledModels.card(name) == nil {
            throw ValidationError("no bundled model named \(name) (bundled: \(BundledModels.names.joined(separator: ", ")))")
        }
    }

    func run() throws {
        if let name, let card = BundledModels.card(name) {
            print(card)
            return
        }
        let names = BundledModels.names
        if names.isEmpty { print("no bundled models"); return }
        for name in names {
            let model = try BundledModels.load(name)
            let summary = BundledModels.card(name)?.split(separator: "\n").first { !$0.hasPrefix("#") && !$0.isEmpty } ?? ""
            print("\(name)\t\(model.architecture.name) C=\(model.channels)\t\(summary)")
        }
    }
}
