import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import Pipeline
import XCTest

/// A real one-node Slurm cluster (Debian's slurm-wlm and munge, started by
/// `deploy/slurm/local-cluster`): `deploy/slurm/ign-array.sbatch` as a 4-task job array, merged,
/// gives the one-process run byte for byte; so does a run whose task was killed mid-way and
/// resubmitted alone.
final class SlurmTests: XCTestCase {
    private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    override class func tearDown() {
        Fixtures.removeAll()
        super.tearDown()
    }

    /// Runs a command (by PATH) and waits for it with posix_spawn and waitpid: Foundation's
    /// Process never sees the end of a command that started daemons here. Output goes to a file.
    private func shell(_ arguments: [String], environment: [String: String] = [:], in folder: URL) throws -> (status: Int32, output: String) {
        let log = folder.appendingPathComponent("shell-\(UUID().uuidString).log")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] { strings.map { strdup($0) } + [nil] }
        let argv = cStrings(["/usr/bin/env", "-C", folder.path] + arguments), envp = cStrings(env)
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, envp)
        guard spawned == 0 else { throw CocoaError(.executableNotLoadable, userInfo: [NSFilePathErrorKey: arguments[0]]) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: log)
        let exited = (status & 0x7f) == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }

    func testJobArrayMergesToTheOneProcessRunEvenAfterAKilledTask() throws {
        let folder = try Fixtures.folder()
        // Short: slurmd's step sockets live under it, and a Unix socket path has at most 108 bytes.
        let cluster = URL(fileURLWithPath: "/tmp/ign-slurm-\(getpid())")
        defer { try? FileManager.default.removeItem(at: cluster) }
        let script = Self.repository.appendingPathComponent("deploy/slurm/local-cluster").path
        let start = try shell([script, "start", cluster.path], in: folder)
        XCTAssertEqual(start.status, 0, "the cluster must come up (install slurm-wlm and munge: scripts/install-deps): \(start.output)")
        guard start.status == 0 else { return }
        defer { _ = try? shell([script, "stop", cluster.path], in: folder) }
        let env = ["SLURM_CONF": cluster.appendingPathComponent("slurm.conf").path, "IGN": Fixtures.ign.path]

        let input = folder.appendingPathComponent("in")
        _ = try Fixtures.mixedTree(at: input)
        for i in 0..<240 { try Fixtures.write(Fixtures.image(width: 84, height: 64, seed: 20 + i), "set \(i % 7)/\(i).png", in: input) }
        let model = try Fixtures.model(in: folder)
        let job = folder.appendingPathComponent("job.yaml")
        try """
            input: \(input.path)
            output: \(folder.appendingPathComponent("sharded").path)
            model: \(model.path)
            fit: tiles
            corrupt: [noise:0.1]
            write: [output, strip]
            batch: 4
            max-pixels: 20000
            """.write(to: job, atomically: true, encoding: .utf8)
        let sbatch = Self.repository.appendingPathComponent("deploy/slurm/ign-array.sbatch").path
        let flags = ["--workers", "1", "--threads", "1", "--quiet"]

        let array = try shell(["timeout", "600", "sbatch", "--wait", "--array=0-3", "--cpus-per-task=1", "--chdir", folder.path, sbatch, job.path] + flags,
                              environment: env, in: folder)
        XCTAssertEqual(array.status, 0, array.output)
        XCTAssertEqual(try Fixtures.run(["merge", folder.appendingPathComponent("sharded").path], in: folder).status, 0)
        let single = try Fixtures.run(["run", job.path, "--quiet", "--output", folder.appendingPathComponent("single").path], in: folder)
        XCTAssertEqual(single.status, 3, single.stderr)
        let reference = Fixtures.contents(of: folder.appendingPathComponent("single"))
        func assertSameAsOneProcess(_ name: String) {
            let merged = Fixtures.contents(of: folder.appendingPathComponent(name)).filter { !$0.key.hasPrefix(Shard.folder + "/") }
            XCTAssertEqual(Set(merged.keys), Set(reference.keys), name)
            for key in reference.keys.sorted() where reference[key] != merged[key] { XCTFail("\(name): \(key) differs") }
        }
        assertSameAsOneProcess("sharded")

        // Kill task 2 mid-run, let the others end, resubmit it alone, merge.
        let killedOut = folder.appendingPathComponent("killed")
        let submitted = try shell(["sbatch", "--parsable", "--array=0-3", "--cpus-per-task=1", "--chdir", folder.path, sbatch, job.path,
                                   "--output", killedOut.path] + flags, environment: env, in: folder)
        XCTAssertEqual(submitted.status, 0, submitted.output)
        let jobID = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let metrics = killedOut.appendingPathComponent("shards/metrics.0002-of-0004.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while Fixtures.lines(metrics).count < 3 && Date() < deadline { usleep(5000) }
        XCTAssertEqual(try shell(["scancel", "--signal=KILL", "\(jobID)_2"], environment: env, in: folder).status, 0)
        while Date() < deadline, !(try shell(["squeue", "-h", "-j", jobID], environment: env, in: folder).output.isEmpty) { usleep(100_000) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: killedOut.appendingPathComponent("shards/done.0002-of-0004.json").path),
                       "task 2 was killed before it finished")
        let incomplete = try Fixtures.run(["merge", killedOut.path], in: folder)
        XCTAssertEqual(incomplete.status, 1)
        XCTAssertTrue(incomplete.stderr.contains("(2)"), incomplete.stderr)
        let rerun = try shell(["timeout", "600", "sbatch", "--wait", "--array=2", "--cpus-per-task=1", "--chdir", folder.path, sbatch, job.path,
                               "--output", killedOut.path, "--shards", "4"] + flags, environment: env, in: folder)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertEqual(try Fixtures.run(["merge", killedOut.path], in: folder).status, 0)
        assertSameAsOneProcess("killed")
    }
}
