import ArgumentParser
import Foundation
import Report

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Rebuild report.html of a run folder from its metrics.jsonl, errors.jsonl, summary.json and pipeline.json.",
        discussion: "`ign run` writes the report itself; this rebuilds it, e.g. after a resumed or merged run. "
            + "Thumbnails are made only where missing or older than their image.")

    @Argument(help: "The output folder of an ign run.") var folder: String

    func validate() throws { try Check.exists("folder", folder) }

    func run() throws {
        let outcome = try RunPage.build(folder: URL(fileURLWithPath: folder, isDirectory: true))
        printError("wrote \(outcome.page.path) (\(outcome.pages) gallery page(s), \(outcome.thumbnailsMade) new thumbnail(s)) in \(String(format: "%.2f", outcome.seconds)) s")
    }
}
