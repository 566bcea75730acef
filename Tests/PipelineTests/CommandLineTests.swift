import Foundation
import Imaging
@testable import Pipeline
import XCTest

/// End-to-end: the built `ign` on real files.
final class CommandLineTests: XCTestCase {
    override class func tearDown() {
        Fixtures.removeAll()
        super.tearDown()
    }

    private func pipelineFile(_ folder: URL, _ body: String) throws -> String {
        let url = folder.appendingPathComponent("job.yaml")
        try body.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testMixedFolderFinishesWithExitCode3() throws {
        let folder = try Fixtures.folder()
        let (good, bad) = try Fixtures.mixedTree(at: folder.appendingPathComponent("in"))
        let model = try Fixtures.model(in: folder)
        let file = try pipelineFile(folder, """
            input: in
            output: out
            model: \(model.path)
            corrupt: [noise:0.1]
            max-pixels: 20000
            """)
        let result = try Fixtures.run(["run", file], in: folder)
        XCTAssertEqual(result.status, 3, result.stderr)
        XCTAssertTrue(result.stdout.contains("\"images\": \(good.count),"), result.stdout)
        for path in bad.keys { XCTAssertTrue(result.stderr.contains(path), "stderr names \(path): \(result.stderr)") }
        XCTAssertTrue(result.stderr.contains("\(good.count) done, \(bad.count) failed"), result.stderr)
        XCTAssertEqual(Fixtures.lines(folder.appendingPathComponent("out/metrics.jsonl")).count, good.count)
        XCTAssertEqual(Fixtures.lines(folder.appendingPathComponent("out/errors.jsonl")).count, bad.count)

        let rerun = try Fixtures.run(["run", file, "--quiet"], in: folder)
        XCTAssertEqual(rerun.status, 3, "the bad files are retried and fail again")
        XCTAssertFalse(rerun.stderr.contains("done,"), "quiet: \(rerun.stderr)")
        XCTAssertEqual(Fixtures.lines(folder.appendingPathComponent("out/metrics.jsonl")).count, good.count)

        let clean = try Fixtures.run(["run", file, "--output", "out2", "--include", "*.png", "--exclude", "huge.png",
                                      "--workers", "1", "--steps", "2", "--seed", "5", "--batch", "3", "--force",
                                      "--corrupt", "grayscale,noise:0.05"], in: folder)
        XCTAssertEqual(clean.status, 3, "bad/corrupt.png and bad/empty.png still fail")
        let lines = Fixtures.lines(folder.appendingPathComponent("out2/metrics.jsonl"))
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines.allSatisfy { $0.contains(#""corruption":"grayscale,noise:0.05""#) }, "--corrupt replaces the file's: \(lines)")
    }

    func testUsageErrorsExitWith2AndWriteNothing() throws {
        let folder = try Fixtures.folder()
        try Fixtures.write(Fixtures.image(width: 30, height: 30), "in/x.png", in: folder)
        let model = try Fixtures.model(in: folder)
        let cases: [(String, [String], String)] = [
            ("input: in\noutput: out\nmodel: \(model.path)\nstpes: 2\n", [], "unknown key \"stpes\"; did you mean \"steps\"?"),
            ("input: in\noutput: out\nmodel: \(model.path)\nfit: squash\n", [], "fit must be one of"),
            ("input: missing\noutput: out\nmodel: \(model.path)\n", [], "no such input folder"),
            ("input: in\noutput: out\nmodel: no-such-model\n", [], "no such model"),
            ("input: in\noutput: out\nmodel: \(model.path)\n", ["--steps", "0"], "steps must be 1...100"),
            ("input: in\noutput: out\nmodel: \(model.path)\n", ["--frobnicate"], "Unknown option"),
            ("input: in\noutput: out\nmodel: \(model.path)\n", ["--corrupt", "noise:loud"], "--corrupt noise:loud"),
        ]
        for (yaml, flags, expected) in cases {
            let file = try pipelineFile(folder, yaml)
            let result = try Fixtures.run(["run", file] + flags, in: folder)
            XCTAssertEqual(result.status, 2, "\(expected): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\"\(result.stderr)\" should mention \(expected)")
            XCTAssertEqual(result.stdout, "")
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("out").path), expected)
        }
        let missing = try Fixtures.run(["run", "nope.yaml"], in: folder)
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("cannot read the pipeline file"), missing.stderr)
        let badSpec = try Fixtures.run(["corrupt", "in", "--output", "out", "--corrupt", "noise:loud"], in: folder)
        XCTAssertEqual(badSpec.status, 2)
        XCTAssertTrue(badSpec.stderr.contains("bad corruption"), badSpec.stderr)
    }

    func testKilledRunResumesToTheSameResultAsAnUninterruptedOne() throws {
        let folder = try Fixtures.folder()
        for i in 0..<400 {
            try Fixtures.write(Fixtures.image(width: 24 + i % 5, height: 24, seed: i), "in/\(i / 50)/\(i).png", in: folder)
        }
        let model = try Fixtures.model(in: folder)
        let file = try pipelineFile(folder, """
            input: in
            output: out
            model: \(model.path)
            corrupt: ["holes:2:5"]
            write: [output, strip]
            workers: 1
            batch: 4
            """)
        let killed = try Fixtures.start(["run", file, "--quiet"], in: folder)
        let metrics = folder.appendingPathComponent("out/metrics.jsonl")
        let deadline = Date().addingTimeInterval(60)
        while Fixtures.lines(metrics).count < 40 && killed.isRunning && Date() < deadline { usleep(2000) }
        XCTAssertTrue(killed.isRunning, "the run should still be going when it is killed")
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        let partial = Fixtures.lines(metrics).count
        XCTAssertLessThan(partial, 400)

        let resumed = try Fixtures.run(["run", file], in: folder)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("already done"), resumed.stderr)
        let reference = try Fixtures.run(["run", file, "--output", "reference", "--workers", "2", "--batch", "64"], in: folder)
        XCTAssertEqual(reference.status, 0, reference.stderr)
        let a = Fixtures.contents(of: folder.appendingPathComponent("out"))
        let b = Fixtures.contents(of: folder.appendingPathComponent("reference"))
        XCTAssertEqual(a.count, 3 * 400 + 6, "images, strips, the report's thumbnails, the five record files and .ign.lock")
        XCTAssertEqual(Set(a.keys), Set(b.keys), "no temporary files, no missing outputs")
        XCTAssertTrue(a == b, "byte-identical results (\(partial) images were done before the kill)")
        XCTAssertEqual(resumed.stdout, reference.stdout)
    }

    func testASecondRunIntoTheSameFolderRefusesOrWaitsWithWait() throws {
        let folder = try Fixtures.folder()
        for i in 0..<200 {
            try Fixtures.write(Fixtures.image(width: 24, height: 24, seed: i), "in/\(i).png", in: folder)
        }
        let model = try Fixtures.model(in: folder)
        let file = try pipelineFile(folder, "input: \(folder.path)/in\noutput: \(folder.path)/out\nmodel: \(model.path)\nwrite: [output, strip]\nworkers: 1\nbatch: 2\n")
        let first = try Fixtures.start(["run", file, "--quiet"], in: folder)
        let metrics = folder.appendingPathComponent("out/metrics.jsonl")
        let deadline = Date().addingTimeInterval(60)
        while Fixtures.lines(metrics).isEmpty && first.isRunning && Date() < deadline { usleep(2000) }
        XCTAssertTrue(first.isRunning, "the first run should still be going")

        let elsewhere = folder.appendingPathComponent("elsewhere")  // the first run's stdout and stderr stay as they are
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let refused = try Fixtures.run(["run", file, "--quiet"], in: elsewhere)
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("another ign run is writing into \(FileSystem.realPath(folder.path))/out"), refused.stderr)
        XCTAssertTrue(first.isRunning, "refused at once, while the first still runs")

        let waited = try Fixtures.run(["run", file, "--quiet", "--wait"], in: elsewhere)
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0)
        XCTAssertEqual(waited.status, 0, waited.stderr)
        XCTAssertTrue(waited.stdout.contains("\"images\": 200,"), waited.stdout)
        XCTAssertEqual(Fixtures.lines(metrics).count, 200, "no metrics line lost or doubled")
    }

    func testCorruptAndDriftCommands() throws {
        let folder = try Fixtures.folder()
        try Fixtures.write(Fixtures.image(width: 40, height: 30, seed: 1), "in/a/x.jpg", in: folder)
        try Fixtures.write(Fixtures.image(width: 30, height: 30, channels: 1, seed: 2), "in/y.png", in: folder)
        let corrupt = try Fixtures.run(["corrupt", "in", "--output", "noisy", "--corrupt", "grayscale,noise:0.1", "--strip"], in: folder)
        XCTAssertEqual(corrupt.status, 0, corrupt.stderr)
        let noisy = try ImageLoader().load(folder.appendingPathComponent("noisy/a/x.png"))
        XCTAssertEqual([noisy.width, noisy.height], [40, 30], "corruptions keep the input's size")
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("noisy/a/x.strip.png").path))
        XCTAssertTrue(corrupt.stdout.contains("\"psnr_in\""), corrupt.stdout)

        let model = try Fixtures.model(in: folder, architecture: .tiny28)
        let drift = try Fixtures.run(["drift", "in", "--model", model.path, "--fit", "resize"], in: folder)
        XCTAssertEqual(drift.status, 0, drift.stderr)
        XCTAssertTrue(drift.stdout.contains("\"drift\": {\"count\":2"), drift.stdout)
        XCTAssertFalse(drift.stderr.contains("results in"), drift.stderr)
        let kept = try Fixtures.run(["drift", "in", "--model", model.path, "--output", "drift", "-q"], in: folder)
        XCTAssertEqual(kept.status, 0, kept.stderr)
        XCTAssertEqual(Set(Fixtures.contents(of: folder.appendingPathComponent("drift")).keys),
                       ["metrics.jsonl", "errors.jsonl", "summary.json", "summary.csv", "pipeline.json", ".ign.lock"], "metrics only")
        XCTAssertEqual(kept.stderr, "")

        // `run --fit` overrides the file's fit: tiles keep the input's 40×30, cover writes 28×28.
        let file = try pipelineFile(folder, "input: in\noutput: fitted\nmodel: \(model.path)\nfit: cover\ninclude: [\"*.jpg\"]\n")
        for (fit, size) in [("cover", [28, 28]), ("tiles", [40, 30])] {
            let run = try Fixtures.run(["run", file, "--fit", fit, "--output", "fitted-\(fit)", "-q"], in: folder)
            XCTAssertEqual(run.status, 0, run.stderr)
            let output = try ImageLoader().load(folder.appendingPathComponent("fitted-\(fit)/a/x.png"))
            XCTAssertEqual([output.width, output.height], size, fit)
        }
    }
}
