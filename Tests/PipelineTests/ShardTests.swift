import Foundation
import Imaging
@testable import Pipeline
import XCTest
import Yams

/// Runs split over tasks: the share of each input, the scheduler's environment, and shards
/// merged into exactly what one process writes.
final class ShardTests: XCTestCase {
    override class func tearDown() {
        Fixtures.removeAll()
        super.tearDown()
    }

    /// Every input is in exactly one shard for N = 1…64, shares are even, and adding a file to a
    /// 10,000-file tree moves no other file.
    func testEveryInputInExactlyOneShardAndAddingAFileMovesNoOther() throws {
        let paths = (0..<10_000).map { "d\($0 / 100)/img \($0).jpg" }
        for n in 1...64 {
            let shards = try (0..<n).map { try Shard(index: $0, count: n) }
            var sizes = [Int](repeating: 0, count: n)
            for path in paths {
                let owners = shards.filter { $0.contains(path) }
                XCTAssertEqual(owners.count, 1, "\(path) with \(n) shards")
                sizes[owners[0].index] += 1
            }
            if n == 16 { XCTAssertTrue(sizes.allSatisfy { (525...725).contains($0) }, "\(sizes)") }
        }
        let sixteen = try (0..<16).map { try Shard(index: $0, count: 16) }
        let before = paths.map { p in sixteen.firstIndex { $0.contains(p) }! }
        let grown = paths + ["d7/new.jpg"]
        let after = grown.map { p in sixteen.firstIndex { $0.contains(p) }! }
        XCTAssertEqual(Array(after.prefix(paths.count)), before)
        XCTAssertEqual(try Shard(parsing: "3/16"), try Shard(index: 3, count: 16))
        XCTAssertEqual(try Shard(index: 3, count: 16).tag, "0003-of-0016")
        for bad in ["3", "16/16", "-1/4", "a/b", "1/0"] { XCTAssertThrowsError(try Shard(parsing: bad), bad) }
    }

    func testShardFromTheSchedulersEnvironment() throws {
        XCTAssertNil(try Shard.fromEnvironment([:], count: nil))
        XCTAssertEqual(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "16"], count: nil),
                       try Shard(index: 5, count: 16))
        XCTAssertEqual(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_MAX": "13"], count: nil),
                       try Shard(index: 2, count: 4))
        XCTAssertEqual(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_COUNT": "1", "SLURM_ARRAY_TASK_MIN": "7"], count: 16),
                       try Shard(index: 7, count: 16), "rerunning one task of the array: --array=7 … --shards 16")
        XCTAssertEqual(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "3", "IGN_SHARDS": "4"], count: nil), try Shard(index: 3, count: 4))
        XCTAssertEqual(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "3", "IGN_SHARDS": "4"], count: 8), try Shard(index: 3, count: 8),
                       "--shards wins over the environment")
        XCTAssertThrowsError(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "3"], count: nil)) {
            XCTAssertTrue("\($0)".contains("--shards"), "\($0)")
        }
        XCTAssertThrowsError(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"], count: nil))
        XCTAssertThrowsError(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "4", "IGN_SHARDS": "4"], count: nil))
    }

    /// The Kubernetes path: 4 local processes told their index by JOB_COMPLETION_INDEX write one
    /// folder; merging refuses while a shard is missing (naming it), then gives byte for byte the
    /// files and records of a one-process run, broken inputs included.
    func testFourShardsFromTheEnvironmentMergeToTheOneProcessRun() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        _ = try Fixtures.mixedTree(at: input)
        for i in 0..<40 { try Fixtures.write(Fixtures.image(width: 36, height: 30, seed: 10 + i), "many/\(i).png", in: input) }
        let model = try Fixtures.model(in: folder)
        let file = folder.appendingPathComponent("job.yaml")
        try """
            input: \(input.path)
            output: \(folder.appendingPathComponent("sharded").path)
            model: \(model.path)
            corrupt: [noise:0.1]
            write: [output, strip]
            max-pixels: 20000
            """.write(to: file, atomically: true, encoding: .utf8)

        func shard(_ index: Int) throws -> Process {
            let cwd = folder.appendingPathComponent("task\(index)")
            try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = Fixtures.ign
            process.arguments = ["run", file.path, "--quiet", "--workers", "1", "--threads", "1"]
            process.environment = ProcessInfo.processInfo.environment.merging(["JOB_COMPLETION_INDEX": String(index), "IGN_SHARDS": "4"]) { $1 }
            process.currentDirectoryURL = cwd
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        let first = try (0..<3).map(shard)
        for p in first { p.waitUntilExit() }
        XCTAssertTrue(first.allSatisfy { [0, 3].contains($0.terminationStatus) }, "\(first.map(\.terminationStatus))")
        let early = try Fixtures.run(["merge", folder.appendingPathComponent("sharded").path], in: folder)
        XCTAssertEqual(early.status, 1)
        XCTAssertTrue(early.stderr.contains("1 of 4 shards are not complete (3)"), early.stderr)
        let last = try shard(3)
        last.waitUntilExit()
        let merged = try Fixtures.run(["merge", folder.appendingPathComponent("sharded").path], in: folder)
        XCTAssertEqual(merged.status, 0, merged.stderr)

        let single = try Fixtures.run(["run", file.path, "--quiet", "--output", folder.appendingPathComponent("single").path], in: folder)
        XCTAssertEqual(single.status, 3, single.stderr)
        XCTAssertEqual(merged.stdout, single.stdout, "the merged summary is the one-process summary")
        let a = Fixtures.contents(of: folder.appendingPathComponent("single"))
        let b = Fixtures.contents(of: folder.appendingPathComponent("sharded")).filter { !$0.key.hasPrefix(Shard.folder + "/") }
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for key in a.keys.sorted() { XCTAssertTrue(a[key] == b[key], "\(key) differs") }
        XCTAssertGreaterThan(Fixtures.lines(folder.appendingPathComponent("single/errors.jsonl")).count, 0, "broken inputs are in the test")
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("sharded/report.html").path))
        // A shard with other settings is refused by the shared folder, as any other run.
        let other = try Fixtures.run(["run", file.path, "--quiet", "--shard", "1/4", "--corrupt", "noise:0.3"], in: folder)
        XCTAssertEqual(other.status, 2)
        XCTAssertTrue(other.stderr.contains("holds the results of another pipeline"), other.stderr)
    }

    /// The Kubernetes files, as far as this machine can check them (no cluster, no Docker daemon):
    /// an Indexed Job whose shard count matches its completions, running `ign run` on the shared
    /// volume; a merge Job; a two-stage Dockerfile whose runtime stage has no build tools.
    func testKubernetesManifestsAreConsistent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        func load(_ name: String) throws -> [String: Any] {
            let text = try String(contentsOf: root.appendingPathComponent("deploy/k8s/\(name)"), encoding: .utf8)
            return try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any], name)
        }
        func at(_ object: Any?, _ path: String...) -> Any? {
            path.reduce(object) { value, key in
                if let index = Int(key) { return (value as? [Any]).flatMap { $0.indices.contains(index) ? $0[index] : nil } }
                return (value as? [String: Any])?[key]
            }
        }
        let run = try load("ign-indexed-job.yaml")
        XCTAssertEqual(at(run, "kind") as? String, "Job")
        XCTAssertEqual(at(run, "apiVersion") as? String, "batch/v1")
        XCTAssertEqual(at(run, "spec", "completionMode") as? String, "Indexed")
        let completions = try XCTUnwrap(at(run, "spec", "completions") as? Int)
        XCTAssertEqual(at(run, "spec", "parallelism") as? Int, completions)
        let container = at(run, "spec", "template", "spec", "containers", "0")
        XCTAssertEqual((at(container, "args") as? [String])?.first, "run")
        let env = try XCTUnwrap(at(container, "env") as? [[String: Any]])
        XCTAssertEqual(env.first { $0["name"] as? String == "IGN_SHARDS" }?["value"] as? String, String(completions))
        XCTAssertEqual(at(container, "volumeMounts", "0", "mountPath") as? String, "/data")
        XCTAssertEqual(at(run, "spec", "template", "spec", "restartPolicy") as? String, "Never")
        let merge = try load("ign-merge-job.yaml")
        XCTAssertEqual(at(merge, "spec", "template", "spec", "containers", "0", "args") as? [String], ["merge", "/data/out"])
        XCTAssertEqual(at(merge, "spec", "template", "spec", "volumes", "0", "persistentVolumeClaim", "claimName") as? String,
                       at(run, "spec", "template", "spec", "volumes", "0", "persistentVolumeClaim", "claimName") as? String)

        let dockerfile = try String(contentsOf: root.appendingPathComponent("deploy/k8s/Dockerfile"), encoding: .utf8)
        let stages = dockerfile.split(separator: "\n").filter { $0.hasPrefix("FROM ") }
        XCTAssertEqual(stages.count, 2)
        XCTAssertTrue(stages[1].contains("-slim"), "\(stages)")
        let runtime = String(dockerfile[dockerfile.range(of: String(stages[1]))!.upperBound...])
        XCTAssertFalse(runtime.contains("-dev"), "the runtime stage installs no headers or compilers")
        XCTAssertTrue(runtime.contains("ign_IGN.resources"), "the bundled models travel with the binary")
    }
}
