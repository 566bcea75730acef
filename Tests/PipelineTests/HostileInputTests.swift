import Foundation
import Imaging
@testable import Pipeline
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Inputs a hostile user would try (issue 13), each a regression test on real files.
final class HostileInputTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        try? Vips.initialize(concurrency: 1)
        try? Vips.silenceWarnings()
    }

    override class func tearDown() {
        Fixtures.removeAll()
        super.tearDown()
    }

    /// A job without a network (grayscale only): the fastest way through every stage.
    private func job(_ input: URL, _ output: URL) -> Job {
        var job = Job(input: input.path, output: output.path)
        job.corruptions = [.grayscale]
        job.maxPixels = 1_000_000
        return job
    }

    private func records(_ output: URL) -> [ImageRecord] {
        Fixtures.lines(output.appendingPathComponent("metrics.jsonl")).compactMap { ImageRecord(jsonLine: Substring($0)) }
    }

    private func failures(_ output: URL) -> [FailureRecord] {
        Fixtures.lines(output.appendingPathComponent("errors.jsonl")).compactMap { FailureRecord(jsonLine: Substring($0)) }
    }

    func testPathsAreShownWithTheirBadBytesEscaped() {
        XCTAssertEqual(Discovery.display(Array("a/é.png".utf8)), "a/é.png")
        XCTAssertEqual(Discovery.display([0x61, 0xFF, 0xC3, 0xA9, 0xC3, 0x2E, 0xE2, 0x82]), "a\\xFFé\\xC3.\\xE2\\x82")
    }

    /// A name that is not UTF-8, inside a folder whose name is not either, and a file deeper
    /// than PATH_MAX are reported in errors.jsonl (escaped), not silently dropped.
    func testEveryFileIsProcessedOrReported() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        let png = try ImageWriter().encode(Fixtures.image(width: 12, height: 10), as: .png)
        try Fixtures.write(png, "good.png", in: input)
        try RawFiles.create(Array(input.path.utf8) + Array("/bad".utf8) + [0xFF] + Array(".png".utf8), png)
        try RawFiles.makeFolder(Array(input.path.utf8) + Array("/odd".utf8) + [0xFE])
        try RawFiles.create(Array(input.path.utf8) + Array("/odd".utf8) + [0xFE] + Array("/inside.png".utf8), png)
        let deep = try RawFiles.deepFile(under: input, levels: 22, named: "deep.png", contents: png)
        defer { RawFiles.removeTree(input) }

        let found = try Discovery(root: input).run()
        XCTAssertEqual(found.files, ["good.png"])
        XCTAssertEqual(found.problems.map(\.path), ["bad\\xFF.png", deep, "odd\\xFE/inside.png"])
        XCTAssertEqual(found.problems.map(\.code), ["badName", "pathTooLong", "badName"])

        let output = folder.appendingPathComponent("out")
        let report = try PipelineRunner(job: job(input, output)).run()
        XCTAssertEqual(report.progress.done, 1)
        XCTAssertEqual(report.progress.failed, 3)
        XCTAssertEqual(records(output).map(\.path), ["good.png"])
        XCTAssertEqual(failures(output).map(\.path), ["bad\\xFF.png", deep, "odd\\xFE/inside.png"])
        XCTAssertTrue(failures(output)[1].message.contains("over the system's limit of 4095"), "\(failures(output))")
        XCTAssertEqual(try Discovery(root: input, include: [try Glob("*.jpg")]).run().problems, [], "globs select problems too")
    }

    /// A 240-byte name gets its output and strip (the temporaries beside them are short); a
    /// 255-byte one whose strip name would be 261 bytes fails before any of its files is written.
    func testLongNamesWorkAndNamesThatCannotFitFailBeforeAnythingIsWritten() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        let long = String(repeating: "n", count: 236) + ".png", longest = String(repeating: "m", count: 251) + ".png"
        for name in [long, longest] { try Fixtures.write(Fixtures.image(width: 12, height: 10), name, in: input) }
        let output = folder.appendingPathComponent("out")
        var job = job(input, output)
        job.artifacts = [.output, .strip]
        let report = try PipelineRunner(job: job).run()
        XCTAssertEqual(records(output).map(\.path), [long])
        XCTAssertEqual(failures(output).map(\.path), [longest])
        XCTAssertEqual(failures(output).first?.code, "output")
        XCTAssertTrue(failures(output).first?.message.contains("261 bytes") == true, "\(failures(output))")
        let written = try FileManager.default.contentsOfDirectory(atPath: output.path)
        XCTAssertTrue(written.contains(long) && written.contains(String(long.dropLast(4)) + ".strip.png"), "\(written)")
        XCTAssertFalse(written.contains { $0.hasPrefix("mmm") }, "no orphan output: \(written)")
        XCTAssertEqual(report.progress.failed, 1)

        job.artifacts = [.output]
        job.output = folder.appendingPathComponent("plain").path
        _ = try PipelineRunner(job: job).run()
        XCTAssertEqual(records(URL(fileURLWithPath: job.output)).map(\.path), [longest, long], "255 bytes is a legal name")
    }

    /// A user's `.X.<digits>.tmp` files under the output folder survive a run; ign's own
    /// leftovers go.
    func testOnlyIgnsOwnTemporariesAreRemoved() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try Fixtures.write(Fixtures.image(width: 12, height: 10), "a/x.png", in: input)
        let output = folder.appendingPathComponent("out")
        for name in ["a/.x.png.123.tmp", ".notes.1.tmp"] { try Fixtures.write(Data("mine".utf8), name, in: output) }
        try Fixtures.write(Data("torn".utf8), "a/.ign-tmp-00000000deadbeef", in: output)
        _ = try PipelineRunner(job: job(input, output)).run()
        let kept = Set(Fixtures.contents(of: output).keys)
        XCTAssertTrue(kept.isSuperset(of: ["a/.x.png.123.tmp", ".notes.1.tmp", "a/x.png"]), "\(kept.sorted())")
        XCTAssertFalse(kept.contains("a/.ign-tmp-00000000deadbeef"))
    }

    /// An input replaced since (another size, or only a newer time) is redone; a rerun
    /// selecting fewer inputs keeps the lines of the others, whose outputs stay.
    func testChangedInputsAreRedoneAndANarrowerIncludeKeepsEarlierLines() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        for (i, name) in ["a.png", "b.png", "c.png"].enumerated() {
            try Fixtures.write(Fixtures.image(width: 12, height: 10, seed: i), name, in: input)
        }
        let output = folder.appendingPathComponent("out")
        var job = job(input, output)
        _ = try PipelineRunner(job: job).run()
        XCTAssertEqual(records(output).map(\.path), ["a.png", "b.png", "c.png"])

        try Fixtures.write(Fixtures.image(width: 20, height: 16, seed: 9), "b.png", in: input)
        var times = [timespec(tv_sec: 2_000_000_000, tv_nsec: 0), timespec(tv_sec: 2_000_000_000, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, input.appendingPathComponent("a.png").path, &times, 0), 0)
        job.include = ["[ab].png"]
        let narrower = try PipelineRunner(job: job).run()
        XCTAssertEqual(narrower.progress.done, 2, "a.png touched, b.png replaced")
        XCTAssertEqual(records(output).map(\.path), ["a.png", "b.png", "c.png"], "c.png's line stays with its output")
        XCTAssertEqual(records(output)[1].width, 20)
        XCTAssertEqual(records(output)[0].source?.modified, "2000000000.000000000")
        XCTAssertEqual(narrower.summary.images, 3)

        job.include = []
        XCTAssertEqual(try PipelineRunner(job: job).run().progress.done, 0)
        let fresh = folder.appendingPathComponent("fresh")
        job.output = fresh.path
        _ = try PipelineRunner(job: job).run()
        XCTAssertEqual(Fixtures.contents(of: output), Fixtures.contents(of: fresh), "as if run once on today's inputs")
    }

    /// Failures of many kinds on 4 workers give errors.jsonl byte for byte as on 1: each
    /// message is its own file's (libvips' error buffer is shared by the process).
    func testFailureMessagesAreTheSameForAnyWorkerCount() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try HostileCorpus.brokenFiles(count: 12, in: input)
        for i in 0..<12 { try Fixtures.write(Fixtures.image(width: 30, height: 20, seed: i), "good/\(i).png", in: input) }
        var outputs: [Data] = []
        for (run, workers) in [1, 4, 4].enumerated() {
            let output = folder.appendingPathComponent("out\(run)")
            var job = job(input, output)
            job.workers = workers
            _ = try PipelineRunner(job: job).run()
            XCTAssertEqual(records(output).count, 12)
            XCTAssertEqual(failures(output).count, 48)
            outputs.append(try Data(contentsOf: output.appendingPathComponent("errors.jsonl")))
        }
        XCTAssertFalse(failures(folder.appendingPathComponent("out0")).contains { $0.message.hasSuffix(": ") }, "no empty libvips text")
        XCTAssertEqual(outputs[1], outputs[0])
        XCTAssertEqual(outputs[2], outputs[0])
    }
}

/// Broken and hostile files for the tests, made at test time.
enum HostileCorpus {
    /// `count` each of truncated PNGs, JPEGs with a damaged scan, PNGs with a bad CRC and
    /// files that are no image, all different, under `broken/`.
    static func brokenFiles(count: Int, in root: URL) throws {
        for i in 0..<count {
            let image = Fixtures.image(width: 40 + i, height: 32, seed: i)
            let png = try ImageWriter().encode(image, as: .png)
            try Fixtures.write(png.prefix(png.count * (i + 3) / (count + 4)), "broken/cut-\(i).png", in: root)
            try Fixtures.write(damagedScan(try ImageWriter().encode(image, as: .jpeg)), "broken/scan-\(i).jpg", in: root)
            try Fixtures.write(badCRC(png), "broken/crc-\(i).png", in: root)
            try Fixtures.write(Data("not an image, number \(i)\n".utf8), "broken/text-\(i).png", in: root)
        }
    }

    /// A JPEG with an end-of-image marker in the middle of its scan.
    static func damagedScan(_ jpeg: Data) -> Data {
        var bytes = [UInt8](jpeg)
        let scan = (0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xDA } ?? 0
        let middle = (scan + bytes.count) / 2
        bytes[middle] = 0xFF
        bytes[middle + 1] = 0xD9
        return Data(bytes)
    }

    /// A PNG whose first IDAT chunk has a wrong CRC.
    static func badCRC(_ png: Data) -> Data {
        var bytes = [UInt8](png)
        let idat = (8..<(bytes.count - 4)).first { bytes[$0..<($0 + 4)].elementsEqual("IDAT".utf8) }!
        let length = Int(bytes[idat - 4]) << 24 | Int(bytes[idat - 3]) << 16 | Int(bytes[idat - 2]) << 8 | Int(bytes[idat - 1])
        bytes[idat + 4 + length] ^= 0xFF
        return Data(bytes)
    }
}

/// Files whose names Foundation cannot spell: paths as bytes, trees deeper than PATH_MAX.
enum RawFiles {
    private static func withPath<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        (bytes + [0]).withUnsafeBufferPointer { body(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }
    }

    /// Writes `contents` to the file at the path `bytes`.
    static func create(_ bytes: [UInt8], _ contents: Data, at base: Int32 = AT_FDCWD) throws {
        let descriptor = withPath(bytes) { openat(base, $0, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(descriptor) }
        _ = contents.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }

    /// Creates the folder at the path `bytes`.
    static func makeFolder(_ bytes: [UInt8]) throws {
        guard withPath(bytes, { mkdir($0, 0o755) }) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// Creates `levels` nested folders of 200-byte names under `root` and the file `name` in
    /// the deepest, through descriptors (its path is longer than PATH_MAX); returns its path
    /// relative to `root`.
    static func deepFile(under root: URL, levels: Int, named name: String, contents: Data) throws -> String {
        let component = String(repeating: "d", count: 200)
        var descriptor = open(root.path, O_RDONLY | O_DIRECTORY)
        for _ in 0..<levels {
            guard descriptor >= 0, mkdirat(descriptor, component, 0o755) == 0 else { throw CocoaError(.fileWriteUnknown) }
            let next = openat(descriptor, component, O_RDONLY | O_DIRECTORY)
            close(descriptor)
            descriptor = next
        }
        defer { close(descriptor) }
        try create(Array(name.utf8), contents, at: descriptor)
        return Array(repeating: component, count: levels).joined(separator: "/") + "/" + name
    }

    /// Removes a tree whatever its depth (`rm` works through descriptors).
    static func removeTree(_ root: URL) {
        let rm = Process()
        rm.executableURL = URL(fileURLWithPath: "/bin/rm")
        rm.arguments = ["-rf", root.path]
        try? rm.run()
        rm.waitUntilExit()
    }
}

/// The built `ign run` over a hostile corpus made at test time, and its peak memory.
final class HostileCorpusTests: XCTestCase {
    override class func tearDown() {
        Fixtures.removeAll()
        super.tearDown()
    }

    /// Writes the corpus into `input`; returns every regular, visible file's path as ign
    /// shows it (escaped where it is not UTF-8), which must each be done or failed once.
    private func corpus(_ input: URL) throws -> Set<String> {
        var expected: Set<String> = []
        func add(_ data: Data, _ path: String) throws {
            try Fixtures.write(data, path, in: input)
            expected.insert(path)
        }
        let writer = ImageWriter()
        for i in 0..<40 { try add(try writer.encode(Fixtures.image(width: 24 + i % 5, height: 24, seed: i), as: .png), "good/\(i).png") }
        try add(try writer.encode(Fixtures.image(width: 30, height: 20, seed: 50), as: .jpeg), "c.jpg")
        try add(try writer.encode(Fixtures.image(width: 30, height: 20, seed: 51), as: .png), "c.png")
        try add(try writer.encode(Fixtures.image(width: 30, height: 20, seed: 52), as: .webp), "photo [1].webp")
        try add(try writer.encode(Fixtures.image(width: 4000, height: 1, seed: 53), as: .png), "short.png")
        let png = try writer.encode(Fixtures.image(width: 16, height: 12, seed: 54), as: .png)
        for name in ["esc\u{1B}]0;title\u{07}.png", "new\nline.png", String(repeating: "L", count: 251) + ".png"] {
            try add(png, name)
        }
        try HostileCorpus.brokenFiles(count: 3, in: input)
        let broken = try FileManager.default.contentsOfDirectory(atPath: input.appendingPathComponent("broken").path)
        expected.formUnion(broken.map { "broken/" + $0 })
        try add(Data(), "empty.png")
        var noise = RandomBytes(seed: 3)
        try add(Data((0..<3000).map { _ in noise.next() }), "noise.bin")
        try add(TinyPNG.encode(width: 100_000, height: 100_000, colorType: 0, rows: [0, 0]), "bomb.png")
        try add(Data("""
            <?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
            <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
            <svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><text>&d;</text></svg>
            """.utf8), "entities.svg")
        try add(Data("""
            <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="20" height="20">
            <image xlink:href="file:///etc/hostname" width="20" height="20"/></svg>
            """.utf8), "external.svg")
        try RawFiles.create(Array(input.path.utf8) + Array("/bad".utf8) + [0xFF] + Array(".png".utf8), png)
        expected.insert("bad\\xFF.png")
        expected.insert(try RawFiles.deepFile(under: input, levels: 20, named: "deep.png", contents: png))
        try Fixtures.write(png, ".hidden.png", in: input)
        try FileManager.default.createSymbolicLink(atPath: input.appendingPathComponent("link.png").path,
                                                   withDestinationPath: input.appendingPathComponent("good/0.png").path)
        XCTAssertEqual(mkfifo(input.appendingPathComponent("pipe.png").path, 0o644), 0)
        return expected
    }

    /// Every entry under `folder` but `skipping`, with its type, size and time: what a run
    /// must leave as it was.
    private func snapshot(_ folder: URL, skipping: [String]) throws -> [String] {
        let find = Process()
        find.executableURL = URL(fileURLWithPath: "/usr/bin/find")
        find.currentDirectoryURL = folder
        find.arguments = ["."] + skipping.flatMap { ["-path", "./" + $0, "-prune", "-o"] } + ["-printf", "%P\t%y\t%s\t%T@\\n"]
        let pipe = Pipe()
        find.standardOutput = pipe
        try find.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        find.waitUntilExit()
        return text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("\t") }.sorted()
    }

    /// Runs `ign` to its end or for at most `limit` seconds (then kills it and fails).
    private func finish(_ process: Process, limit: TimeInterval = 120, file: StaticString = #filePath, line: UInt = #line) {
        let deadline = Date().addingTimeInterval(limit)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            XCTFail("ign hung", file: file, line: line)
        }
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit, "ign crashed", file: file, line: line)
        XCTAssertTrue([0, 3].contains(process.terminationStatus), "exit code \(process.terminationStatus)", file: file, line: line)
    }

    /// Exit code 0 or 3, no crash or hang, every regular file done or failed exactly once,
    /// nothing written outside the output folder, ign's temporaries only removed, and a run
    /// killed mid-way and resumed ends byte for byte as the uninterrupted one, errors included.
    func testHostileCorpus() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in"), cwd = folder.appendingPathComponent("cwd")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        let expected = try corpus(input)
        defer { RawFiles.removeTree(input) }
        let model = try Fixtures.model(in: folder)
        let pipeline = folder.appendingPathComponent("job.yaml")
        try """
            input: \(input.path)
            output: \(folder.path)/out
            model: \(model.path)
            corrupt: ["noise:0.1"]
            write: [output, strip]
            max-pixels: 1000000
            workers: 2
            threads: 1
            batch: 1
            """.write(to: pipeline, atomically: true, encoding: .utf8)
        for out in ["out", "resumed"] { try Fixtures.write(Data("mine".utf8), "good/.0.png.123.tmp", in: folder.appendingPathComponent(out)) }
        let before = try snapshot(folder, skipping: ["out", "resumed", "cwd"])

        let whole = try Fixtures.start(["run", pipeline.path, "--quiet"], in: cwd)
        finish(whole)
        let out = folder.appendingPathComponent("out")
        let done = Fixtures.lines(out.appendingPathComponent("metrics.jsonl")).compactMap { ImageRecord(jsonLine: Substring($0))?.path }
        let failed = Fixtures.lines(out.appendingPathComponent("errors.jsonl")).compactMap { FailureRecord(jsonLine: Substring($0))?.path }
        XCTAssertEqual(done.count + failed.count, expected.count, "each file once")
        XCTAssertEqual(Set(done).union(failed), expected)
        XCTAssertTrue(Set(done).isDisjoint(with: failed))
        XCTAssertGreaterThanOrEqual(done.count, 46, "the good files are done: \(failed)")
        for path in ["broken/scan-0.jpg", "broken/crc-0.png", "bomb.png", "bad\\xFF.png", String(repeating: "L", count: 251) + ".png"] {
            XCTAssertTrue(failed.contains(path), "\(path) failed (a 261-byte strip name for the last)")
        }
        XCTAssertEqual(try snapshot(folder, skipping: ["out", "resumed", "cwd"]), before, "nothing written outside the output")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cwd.path).sorted(), ["stderr", "stdout"])
        XCTAssertNotNil(FileManager.default.contents(atPath: out.appendingPathComponent("good/.0.png.123.tmp").path))

        let resumed = folder.appendingPathComponent("resumed")
        let killed = try Fixtures.start(["run", pipeline.path, "--quiet", "--output", resumed.path], in: cwd)
        let metrics = resumed.appendingPathComponent("metrics.jsonl"), deadline = Date().addingTimeInterval(60)
        while Fixtures.lines(metrics).count < 10 && killed.isRunning && Date() < deadline { usleep(2000) }
        XCTAssertTrue(killed.isRunning, "the run should still be going when it is killed")
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        finish(try Fixtures.start(["run", pipeline.path, "--quiet", "--output", resumed.path], in: cwd))
        let a = Fixtures.contents(of: out), b = Fixtures.contents(of: resumed)
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for key in a.keys.sorted() where a[key] != b[key] {
            let lines = [a[key], b[key]].map { Set(String(decoding: $0 ?? Data(), as: UTF8.self).split(separator: "\n")) }
            XCTFail("\(key) differs after the resumed run: \(lines[0].subtracting(lines[1]).sorted()) became \(lines[1].subtracting(lines[0]).sorted())")
        }
    }

    /// Peak resident memory (kB) of `ign arguments`, from `wait4`.
    private func peakMemory(_ arguments: [String]) throws -> Int {
        let argv = ([Fixtures.ign.path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        guard posix_spawn(&pid, Fixtures.ign.path, &actions, nil, argv, environ) == 0 else { throw CocoaError(.executableLoad) }
        var status: Int32 = 0
        var usage = rusage()
        XCTAssertEqual(wait4(pid, &status, 0, &usage), pid)
        XCTAssertEqual(status, 0, "ign \(arguments)")
        return usage.ru_maxrss
    }

    /// Two images just under the pixel limit, each reserving more than half the budget from
    /// its header, are decoded one after the other even by two workers.
    func testBigImagesAreNotDecodedTogetherPastTheBudget() throws {
        let folder = try Fixtures.folder()
        let big = try ImageWriter().encode(try PlanarImage(width: 5000, height: 5000, channels: 1, fill: 0.2), as: .png)
        for name in ["one/a.png", "two/a.png", "two/b.png"] { try Fixtures.write(big, name, in: folder) }
        func run(_ input: String) throws -> Int {
            try peakMemory(["corrupt", folder.appendingPathComponent(input).path, "--output",
                            folder.appendingPathComponent("out-" + input).path, "--corrupt", "grayscale", "--workers", "2", "--quiet"])
        }
        let one = try run("one"), two = try run("two")
        XCTAssertLessThan(Double(two), 1.3 * Double(one), "peak RSS \(one) kB for one image, \(two) kB for two")
    }
}

/// Seeded bytes (SplitMix64) for files of noise.
struct RandomBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt8 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return UInt8(truncatingIfNeeded: z ^ (z >> 31))
    }
}
