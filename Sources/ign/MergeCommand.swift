import ArgumentParser
import Foundation
import Pipeline
import Report

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the shards of a run (ign run --shard I/N) into one folder's records, as one process would have written them.",
        discussion: """
            Checks that every shard is complete (names the missing ones and exits 1 otherwise), then writes \
            metrics.jsonl, errors.jsonl, summary.json, summary.csv and report.html; the summary JSON goes to stdout.
            """)

    @Argument(help: "The shared output folder of the shards.") var folder: String

    func validate() throws { try Check.exists("folder", folder) }

    func run() throws {
        let url = URL(fileURLWithPath: folder, isDirectory: true)
        let summary = try ShardMerge.merge(folder: url)
        do { try RunPage.build(folder: url) } catch { printError("note: the report was not written: \(error)") }
        print(summary.json, terminator: "")
    }
}
