import Foundation
import Imaging
@testable import Pipeline
import XCTest

final class PipelineFileTests: XCTestCase {
    private func parse(_ text: String) throws -> Job { try PipelineFile.parse(text, name: "test.yaml") }

    private func assertRefused(_ text: String, mentions expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(text), file: file, line: line) { error in
            XCTAssertEqual((error as? PipelineError)?.code, .usage, file: file, line: line)
            XCTAssertTrue("\(error)".contains(expected), "\"\(error)\" should mention \"\(expected)\"", file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), "one line: \(error)", file: file, line: line)
        }
    }

    func testShippedPipelinesParse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("pipelines")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertEqual(names, ["benchmark.yaml", "colorize-photos.yaml", "colorize.yaml", "denoise.yaml", "drift.yaml", "peer-benchmark.yaml", "photo-benchmark.yaml", "sketch.yaml"])
        var jobs: [String: Job] = [:]
        for name in names { jobs[name] = try PipelineFile.load(folder.appendingPathComponent(name)) }
        XCTAssertEqual(jobs["denoise.yaml"]?.fit, .whole)
        XCTAssertEqual(jobs["colorize.yaml"]?.color, .lightness)
        XCTAssertEqual(jobs["colorize-photos.yaml"]?.color, .lightness)
        XCTAssertEqual(jobs["colorize-photos.yaml"]?.measures, [.drift, .deltaE, .psnr])
        XCTAssertEqual(jobs["sketch.yaml"]?.corruptions, [.sketch(.sobel)])
        XCTAssertEqual(jobs["sketch.yaml"]?.corruptAt, .model)
        XCTAssertEqual(jobs["photo-benchmark.yaml"]?.fit, .whole)
        XCTAssertEqual(jobs["colorize-photos.yaml"]?.fit, .whole)
        XCTAssertEqual(jobs["drift.yaml"]?.artifacts, [])
        XCTAssertEqual(jobs["benchmark.yaml"]?.corruptions, [.noise(sigma: 0.2)])
        XCTAssertEqual(jobs["peer-benchmark.yaml"]?.artifacts, [.output], "the peer writes only the outputs")
        XCTAssertEqual(jobs["peer-benchmark.yaml"]?.measures, jobs["benchmark.yaml"]?.measures)
        XCTAssertEqual(Set(jobs.values.compactMap(\.model)), ["fashion28", "emoji32-sketch", "photo64", "photo64-denoise"])
        XCTAssertEqual(jobs["denoise.yaml"]?.model, "photo64-denoise")
        XCTAssertEqual(jobs["colorize-photos.yaml"]?.model, "photo64", "photo64's colours are the better")
    }

    func testEveryKeyIsRead() throws {
        let job = try parse("""
            input: in
            output: out
            model: photo32
            fit: tiles
            size: input
            overlap: 6
            block: 256
            corrupt: [grayscale, "noise:0.1,blur:1"]
            corrupt-at: model
            steps: 3
            statistics: generation
            batch: 16
            workers: 2
            threads: 1
            format: jpg
            color: lightness
            write: [output, strip]
            metrics: [drift]
            include: ["*.png", "**/*.jpg"]
            exclude: tmp/*
            follow-symlinks: true
            seed: 42
            max-pixels: 1_000_000
            """)
        var expected = Job(input: "in", output: "out", model: "photo32")
        expected.fit = .tiles
        expected.size = .input
        expected.overlap = 6
        expected.block = 256
        expected.corruptions = [.grayscale, .noise(sigma: 0.1), .blur(sigma: 1)]
        expected.corruptAt = .model
        expected.steps = 3
        expected.statistics = .generation
        expected.batch = 16
        expected.workers = 2
        expected.threads = 1
        expected.format = .jpeg
        expected.color = .lightness
        expected.artifacts = [.output, .strip]
        expected.measures = [.drift]
        expected.include = ["*.png", "**/*.jpg"]
        expected.exclude = ["tmp/*"]
        expected.followSymlinks = true
        expected.seed = 42
        expected.maxPixels = 1_000_000
        XCTAssertEqual(job, expected)
        XCTAssertEqual(try parse("input: a\noutput: b\nmodel: m"), Job(input: "a", output: "b", model: "m"))
    }

    func testMistakesGetOneClearMessageWithTheLine() {
        assertRefused("input: a\noutput: b\nstpes: 2", mentions: "test.yaml:3: unknown key \"stpes\"; did you mean \"steps\"?")
        assertRefused("input: a\noutput: b\nfit: squash", mentions: "fit must be one of resize, cover, tiles, whole")
        assertRefused("input: a\noutput: b\nmodel: m\nblock: 8", mentions: "block must be a whole number in 16...8192")
        assertRefused("input: a\noutput: b\nmodel: m\nfit: whole\nblock: 64\noverlap: 32", mentions: "under half the block")
        assertRefused("input: a\noutput: b\nmodel: m\nsteps: 0", mentions: "steps must be a whole number in 1...100")
        assertRefused("input: a\noutput: b\nmodel: m\nbatch: many", mentions: "batch must be a whole number")
        assertRefused("output: b\nmodel: m", mentions: "missing key \"input\"")
        assertRefused("input: a\nmodel: m", mentions: "missing key \"output\"")
        assertRefused("input: a\noutput: b\ncorrupt: [\"noise:abc\"]", mentions: "test.yaml:3: bad corruption \"noise:abc\"")
        assertRefused("input: a\noutput: b\nmodel: m\nwrite: [output, everything]", mentions: "write items must be among output, corrupted, strip")
        assertRefused("input: a\noutput: b\nmodel: m\nformat: bmp", mentions: "format must be png, jpg, webp or tif")
        assertRefused("input: a\noutput: b\nmodel: m\ninput: c", mentions: "\"input\" is given twice")
        assertRefused("input: [a, b]\noutput: b", mentions: "input must be a single value")
        assertRefused("input: a\noutput: b\nmodel: m\ninclude: [\"[abc\"]", mentions: "unclosed [")
        assertRefused("input: a\noutput: b", mentions: "without a model there is nothing to do")
        assertRefused("- input\n- output", mentions: "a pipeline file is a mapping")
        assertRefused("input: a\n  output: : b\n", mentions: "not valid YAML")
        assertRefused("input: a\noutput: b\nmodel: m\nseed: -1", mentions: "seed must be a whole number")
        assertRefused("input: a\noutput: b\nmodel: m\nstatistics: batch", mentions: "test.yaml:4: statistics must be projection or generation")
    }

    func testGlobs() throws {
        let cases: [(String, String, Bool)] = [
            ("*.png", "a/b/c.png", true), ("*.png", "c.jpg", false), ("a/*.png", "a/c.png", true),
            ("a/*.png", "a/b/c.png", false), ("a/**/*.png", "a/c.png", true), ("a/**/*.png", "a/b/d/c.png", true),
            ("**/x?.jpg", "p/q/x1.jpg", true), ("img[0-9].png", "img7.png", true), ("img[!0-9].png", "img7.png", false),
            ("a.b", "axb", false), ("(x).png", "(x).png", true),
        ]
        for (pattern, path, expected) in cases {
            XCTAssertEqual(try Glob(pattern).matches(path), expected, "\(pattern) ~ \(path)")
        }
    }

    func testEditDistance() {
        XCTAssertEqual(PipelineFile.editDistance("stpes", "steps"), 2)
        XCTAssertEqual(PipelineFile.editDistance("", "abc"), 3)
        XCTAssertEqual(PipelineFile.editDistance("kitten", "sitting"), 3)
        XCTAssertNil(PipelineFile.closest(to: "colour-space", in: PipelineFile.keys))
    }
}
