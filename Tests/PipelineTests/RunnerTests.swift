import Engine
import Foundation
import IGN
import Imaging
@testable import Pipeline
import XCTest

final class RunnerTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        try? Vips.initialize(concurrency: 1)
        try? Vips.silenceWarnings()
    }

    override class func tearDown() {
        Fixtures.removeAll()
        super.tearDown()
    }

    private func job(_ folder: URL, input: URL, output: String = "out") throws -> Job {
        var job = Job(input: input.path, output: folder.appendingPathComponent(output).path,
                      model: try Fixtures.model(in: folder).path)
        job.maxPixels = 20_000
        return job
    }

    func testMixedTreeEveryGoodFileHasOutputAndMetricsEveryBadOneAnError() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        let (good, bad) = try Fixtures.mixedTree(at: input)
        var job = try job(folder, input: input)
        job.corruptions = [.noise(sigma: 0.1)]
        job.artifacts = [.output, .corrupted, .strip]
        var failures: [FailureRecord] = []
        let runner = PipelineRunner(job: job)
        runner.onFailure = { failures.append($0) }
        let report = try runner.run()

        XCTAssertEqual(report.progress.done, good.count)
        XCTAssertEqual(report.progress.failed, bad.count)
        XCTAssertEqual(Set(failures.map(\.path)), Set(bad.keys))
        let out = report.output
        let metrics = Fixtures.lines(out.appendingPathComponent("metrics.jsonl")).compactMap { ImageRecord(jsonLine: Substring($0)) }
        XCTAssertEqual(metrics.map(\.path), good, "one line per good file, in input order")
        for record in metrics {
            let stem = (record.path as NSString).deletingPathExtension
            XCTAssertEqual(record.output, stem + ".png")
            for suffix in [".png", ".corrupted.png", ".strip.png"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(stem + suffix).path), stem + suffix)
            }
            let written = try ImageLoader().load(out.appendingPathComponent(stem + ".png"), channels: 1)
            XCTAssertEqual([written.width, written.height], [28, 28], "cover at the model's size")
            XCTAssertEqual(record.corruption, "noise:0.1")
            for value in [record.drift, record.relativeDrift, record.distance, record.psnrIn, record.psnrOut, record.ssimIn, record.ssimOut] {
                XCTAssertNotNil(value, record.path)
            }
        }
        let errors = Fixtures.lines(out.appendingPathComponent("errors.jsonl")).compactMap { FailureRecord(jsonLine: Substring($0)) }
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: errors.map { ($0.path, $0.code) }), bad)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("notes.png").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("hidden.png").path))

        let summary = try String(contentsOf: out.appendingPathComponent("summary.json"), encoding: .utf8)
        XCTAssertTrue(summary.contains("\"images\": \(good.count),") && summary.contains("\"failures\": \(bad.count),"), summary)
        let csv = Fixtures.lines(out.appendingPathComponent("summary.csv"))
        XCTAssertEqual(csv.first, "metric,count,mean,median,p95,max")
        XCTAssertTrue(csv.contains { $0.hasPrefix("psnr_out,\(good.count),") }, "\(csv)")
        let settings = try XCTUnwrap(Fingerprint.read(out.appendingPathComponent("pipeline.json")))
        XCTAssertEqual(settings["corrupt"], "noise:0.1")
    }

    func testOutputsAreIdenticalForAnyWorkerCountAndBatchSize() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        for i in 0..<24 {
            try Fixtures.write(Fixtures.image(width: 20 + i, height: 40 - i, seed: i), "d\(i % 3)/img\(i).png", in: input)
        }
        try Fixtures.write(Fixtures.image(width: 70, height: 45, seed: 99), "big/tiled.jpg", in: input)
        var results: [[String: Data]] = []
        for (workers, batch) in [(1, 64), (2, 5), (4, 1)] {
            var job = try job(folder, input: input, output: "out-\(workers)")
            job.fit = .tiles
            job.corruptions = [.noise(sigma: 0.2), .blur(sigma: 0.5)]
            job.workers = workers
            job.threads = workers == 4 ? 1 : 2
            job.batch = batch
            job.artifacts = [.output, .strip]
            _ = try PipelineRunner(job: job).run()
            results.append(Fixtures.contents(of: URL(fileURLWithPath: job.output)))
        }
        XCTAssertEqual(results[0].count, 25 * 3 + 6, "images, strips, the report's thumbnails, the five record files and .ign.lock")
        XCTAssertEqual(results[0], results[1], "1 vs 2 workers")
        XCTAssertEqual(results[0], results[2], "1 vs 4 workers")
    }

    func testInterruptedRunResumesToTheSameResult() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        _ = try Fixtures.mixedTree(at: input)
        for i in 0..<10 { try Fixtures.write(Fixtures.image(width: 30, height: 30, seed: i), "more/\(i).png", in: input) }
        var job = try job(folder, input: input, output: "reference")
        job.corruptions = [.jpeg(quality: 30)]
        _ = try PipelineRunner(job: job).run()
        let reference = Fixtures.contents(of: URL(fileURLWithPath: job.output))

        // What a kill -9 can leave: some outputs without their lines, a torn last line, a
        // temporary file, no summaries; plus a line whose output was deleted since.
        let broken = folder.appendingPathComponent("broken")
        try FileManager.default.copyItem(atPath: job.output, toPath: broken.path)
        let metricsURL = broken.appendingPathComponent("metrics.jsonl")
        var lines = Fixtures.lines(metricsURL)
        let tornPath = try XCTUnwrap(ImageRecord(jsonLine: Substring(lines[5])))?.path
        lines = Array(lines[0..<6])
        try (lines[0..<5].map { $0 + "\n" }.joined() + lines[5].prefix(20)).write(to: metricsURL, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: broken.appendingPathComponent("more/0.png"))
        try Data("partial".utf8).write(to: broken.appendingPathComponent("more/.ign-tmp-0123456789abcdef"))
        for name in ["summary.json", "summary.csv", "errors.jsonl"] {
            try FileManager.default.removeItem(at: broken.appendingPathComponent(name))
        }
        XCTAssertNotNil(tornPath)

        job.output = broken.path
        let resumed = try PipelineRunner(job: job).run()
        XCTAssertEqual(resumed.progress.skipped, 4, "5 complete lines, one of whose outputs is gone")
        XCTAssertEqual(Fixtures.contents(of: broken), reference, "byte for byte, failure messages included")

        let again = try PipelineRunner(job: job).run()
        XCTAssertEqual(again.progress.done, 0, "a finished run has nothing left to do")
        XCTAssertEqual(Fixtures.contents(of: broken), reference, "byte for byte, failure messages included")
    }

    func testAnotherPipelineIntoTheSameFolderIsRefusedUnlessForced() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try Fixtures.write(Fixtures.image(width: 30, height: 30), "x.png", in: input)
        try Fixtures.write(Fixtures.image(width: 30, height: 30, seed: 1), "y.png", in: input)
        var job = try job(folder, input: input)
        job.include = ["x.png"]
        XCTAssertEqual(try PipelineRunner(job: job).run().progress.done, 1)
        job.include = []
        let wider = try PipelineRunner(job: job).run()
        XCTAssertEqual([wider.progress.skipped, wider.progress.done], [1, 1], "selecting more files is no other pipeline")
        job.steps = 2
        XCTAssertThrowsError(try PipelineRunner(job: job).run()) { error in
            XCTAssertEqual((error as? PipelineError)?.code, .usage)
            XCTAssertTrue("\(error)".contains("steps"), "\(error)")
        }
        XCTAssertEqual(try PipelineRunner(job: job, force: true).run().progress.done, 2)
    }

    func testTilesCoverAnyImageSizeAtFullResolution() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try Fixtures.write(Fixtures.image(width: 75, height: 50, seed: 1), "wide.png", in: input)
        try Fixtures.write(Fixtures.image(width: 12, height: 9, seed: 2), "small.png", in: input)
        var job = try job(folder, input: input)
        job.fit = .tiles
        job.overlap = 10
        job.batch = 4
        let report = try PipelineRunner(job: job).run()
        XCTAssertEqual(report.progress.done, 2)
        for (name, size) in [("wide", [75, 50]), ("small", [12, 9])] {
            let image = try ImageLoader().load(report.output.appendingPathComponent("\(name).png"))
            XCTAssertEqual([image.width, image.height], size, name)
        }
    }

    func testTileBlendingOfUnchangedTilesGivesTheImageBack() throws {
        let image = Fixtures.image(width: 61, height: 37, channels: 3, seed: 4)
        var job = Job(input: "in", output: "out")
        job.fit = .tiles
        job.overlap = 9
        let fitted = try job.imageFit(model: IGNModel(architecture: .tiny28, channels: 3)).fit(image, corrupt: Corrupter(corruptions: [], seed: 0, keepsClean: false))
        let work = InFlightImage(path: "x.png", source: nil, names: [:], width: image.width, height: image.height, fitted: fitted, reserved: 0)
        var tile = [Float](repeating: 0, count: 3 * 28 * 28)
        XCTAssertEqual(fitted.sampleCount, 3 * 2)
        for i in 0..<fitted.sampleCount {
            fitted.copySample(i, to: &tile)
            let last = tile.withUnsafeBufferPointer { work.accept(i, output: $0.baseAddress!, next: $0.baseAddress!) }
            XCTAssertEqual(last, i == fitted.sampleCount - 1)
        }
        let result = try fitted.assemble()
        XCTAssertEqual(work.remaining, 0)
        XCTAssertEqual(result.written.pixels, result.output.pixels)
        for (a, b) in zip(result.output.pixels, image.pixels) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        XCTAssertEqual(result.next?.pixels, result.output.pixels)
    }

    func testResizeFitWrittenAtTheInputSizeAndColorizedWithTheInputLightness() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try Fixtures.write(Fixtures.image(width: 50, height: 34, seed: 3), "photo.png", in: input)
        var job = try job(folder, input: input)
        job.model = try Fixtures.model(in: folder, architecture: .tiny28, channels: 3).path
        job.fit = .resize
        job.size = .input
        job.color = .lightness
        job.corruptions = [.grayscale]
        let report = try PipelineRunner(job: job).run()
        let output = try ImageLoader().load(report.output.appendingPathComponent("photo.png"), channels: 3)
        XCTAssertEqual([output.width, output.height], [50, 34])
        let grey = try Corruption.grayscale.apply(to: Fixtures.image(width: 50, height: 34, seed: 3), seed: 0).quantized()
        let lightnessError = zip(LabImage(output).l, LabImage(grey).l).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(lightnessError, 1.5, "the output keeps the input's lightness")
    }

    /// `fit: whole` writes every image at its own size (any size, padded to the network's multiple
    /// of 4 and cropped back); the network sees the corrupted image.
    func testWholeFitRunsAnyImageAtItsOwnResolution() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        let sizes = [("wide", 75, 50), ("small", 12, 9), ("long", 300, 90), ("same", 75, 50)]
        for (i, (name, w, h)) in sizes.enumerated() { try Fixtures.write(Fixtures.image(width: w, height: h, seed: i), "\(name).png", in: input) }
        var job = try job(folder, input: input)
        job.model = try Fixtures.model(in: folder, architecture: .fcnTiny, channels: 3).path
        job.fit = .whole
        job.block = 128
        job.overlap = 24
        job.maxPixels = 100_000
        job.corruptions = [.noise(sigma: 0.1)]
        job.measures = [.drift, .psnr, .deltaE]
        let report = try PipelineRunner(job: job).run()
        XCTAssertEqual(report.progress.failed, 0, (try? String(contentsOf: report.output.appendingPathComponent("errors.jsonl"), encoding: .utf8)) ?? "")
        XCTAssertEqual(report.progress.done, 4)
        for (name, w, h) in sizes {
            let image = try ImageLoader().load(report.output.appendingPathComponent("\(name).png"))
            XCTAssertEqual([image.width, image.height], [w, h], name)
        }
        for line in Fixtures.lines(report.output.appendingPathComponent("metrics.jsonl")) {
            let record = try XCTUnwrap(ImageRecord(jsonLine: Substring(line)))
            XCTAssertGreaterThan(try XCTUnwrap(record.deltaEIn), 0, "noise moves colours: \(line)")
            XCTAssertNotNil(record.deltaEOut)
            XCTAssertNotNil(record.drift)
        }
    }

    /// A whole image in blocks (origins on the network's grid of 4) gives what one pass over the
    /// whole image gives wherever only one block covers a pixel and the overlap spans the
    /// network's reach (fcn's receptive field is 49 pixels); seams stay close to it too.
    func testWholeFitBlocksAgreeWithOnePass() throws {
        let model = try IGNModel(architecture: .fcnTiny, channels: 3)
        model.initialize(seed: 2)
        let projector = Projector(model: model, threads: 2)
        let image = Fixtures.image(width: 250, height: 98, channels: 3, seed: 5)
        func project(block: Int) throws -> (PlanarImage, TileGrid?) {
            let fit = WholeImageFit(multiple: 4, block: block, overlap: 48)
            let fitted = try fit.fit(image, corrupt: Corrupter(corruptions: [], seed: 0, keepsClean: false))
            let shape = fitted.sampleShape
            var sample = [Float](repeating: 0, count: shape.count)
            for i in 0..<fitted.sampleCount {
                fitted.copySample(i, to: &sample)
                let out = projector.apply(sample, count: 1, steps: 1, shape: shape)
                out[0].withUnsafeBufferPointer { fitted.accept(i, output: $0.baseAddress!, next: nil) }
            }
            return (try fitted.assemble().written, (fitted as? TileFit.Tiled)?.grid)
        }
        let (whole, single) = try project(block: 8192)
        XCTAssertEqual(single?.count, 1)
        let (blocked, gridOrNil) = try project(block: 128)
        let grid = try XCTUnwrap(gridOrNil)
        XCTAssertEqual(grid.count, 3, "250 (padded to 252) wide in blocks of ≤ 128 with 48 of overlap")
        XCTAssertEqual([whole.width, whole.height, blocked.width, blocked.height], [250, 98, 250, 98])
        var alone = 0, worstAlone: Float = 0, worstSeam: Float = 0
        for y in 0..<98 {
            for x in 0..<250 {
                let covering = grid.origins.filter { x >= $0.x && x < $0.x + grid.tileWidth && y >= $0.y && y < $0.y + grid.tileHeight }
                for c in 0..<3 {
                    let d = abs(whole[c, y, x] - blocked[c, y, x])
                    if covering.count == 1 { worstAlone = max(worstAlone, d) } else { worstSeam = max(worstSeam, d) }
                }
                if covering.count == 1 { alone += 1 }
            }
        }
        XCTAssertGreaterThan(alone, 98 * 100)
        XCTAssertLessThan(worstAlone, 1e-5)
        XCTAssertLessThan(worstSeam, 0.1, "seams: within a tenth of the one-pass output")
        XCTAssertGreaterThan(WholeImageFit(multiple: 4, block: 512, overlap: 48).side(1024), 360)
        XCTAssertEqual(WholeImageFit(multiple: 4, block: 512, overlap: 48).side(512), 512)
    }

    /// Noise added before a 120→28 resize is mostly averaged away; added to the fitted sample it
    /// keeps its σ (PSNR of noise σ = 0.2 is 20·log10(1/0.2) ≈ 14 dB, a little more where clipped).
    func testCorruptAtModelSizeKeepsTheNoiseLevel() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try Fixtures.write(Fixtures.image(width: 120, height: 90, seed: 4), "photo.png", in: input)
        func noisyPSNR(_ at: Job.CorruptAt) throws -> Double {
            var job = try job(folder, input: input, output: "out-\(at.rawValue)")
            job.fit = .resize
            job.corruptions = [.noise(sigma: 0.2)]
            job.corruptAt = at
            job.artifacts = [.corrupted]
            job.measures = [.psnr]
            let report = try PipelineRunner(job: job).run()
            let corrupted = try ImageLoader().load(report.output.appendingPathComponent("photo.corrupted.png"))
            XCTAssertEqual([corrupted.width, corrupted.height], [28, 28])
            let line = Fixtures.lines(report.output.appendingPathComponent("metrics.jsonl"))[0]
            return try XCTUnwrap(ImageRecord(jsonLine: Substring(line))?.psnrIn)
        }
        let atModel = try noisyPSNR(.model), atInput = try noisyPSNR(.input)
        XCTAssertEqual(atModel, 14.5, accuracy: 1.5)
        XCTAssertGreaterThan(atInput, atModel + 8, "resizing averaged the input-size noise away")
    }

    func testCorruptionsAloneWithoutAModel() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try Fixtures.write(Fixtures.image(width: 45, height: 31, seed: 3), "a/photo.jpg", in: input)
        var job = Job(input: input.path, output: folder.appendingPathComponent("out").path)
        job.corruptions = [.sketch(.sobel)]
        job.format = .webp
        let report = try PipelineRunner(job: job).run()
        let output = try ImageLoader().load(report.output.appendingPathComponent("a/photo.webp"))
        XCTAssertEqual([output.width, output.height], [45, 31])
        let record = try XCTUnwrap(ImageRecord(jsonLine: Substring(Fixtures.lines(report.output.appendingPathComponent("metrics.jsonl"))[0])))
        XCTAssertNotNil(record.psnrIn)
        XCTAssertNil(record.psnrOut)
        XCTAssertNil(record.drift)
    }

    func testBadSettingsAreRefusedBeforeAnythingIsWritten() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try Fixtures.write(Fixtures.image(width: 30, height: 30), "x.png", in: input)
        let model = try Fixtures.model(in: folder, architecture: .tiny28, channels: 3)
        let grey = try Fixtures.model(in: folder, architecture: .tiny28, channels: 1)
        let out = folder.appendingPathComponent("out").path
        var cases: [(Job, String)] = []
        var job = Job(input: folder.appendingPathComponent("missing").path, output: out, model: model.path)
        cases.append((job, "no such input folder"))
        job = Job(input: input.path, output: out, model: folder.appendingPathComponent("nope.safetensors").path)
        cases.append((job, "no such model"))
        job = Job(input: input.path, output: out, model: model.path)
        job.fit = .tiles
        job.overlap = 28
        cases.append((job, "overlap"))
        job = Job(input: input.path, output: out, model: grey.path)
        job.color = .lightness
        cases.append((job, "3-channel"))
        job = Job(input: input.path, output: input.path, model: model.path)
        cases.append((job, "inside the output folder"))
        job = Job(input: input.path, output: folder.path, model: model.path)
        cases.append((job, "inside the output folder"))
        job = Job(input: input.path, output: out)
        cases.append((job, "nothing to do"))
        job = Job(input: input.path, output: out, model: model.path)
        job.corruptions = [.grayscale]
        job.corruptAt = .model
        job.size = .input
        cases.append((job, "corrupt-at"))
        job = Job(input: input.path, output: out, model: model.path)
        job.fit = .whole
        cases.append((job, "fully-convolutional"))
        for (job, expected) in cases {
            XCTAssertThrowsError(try PipelineRunner(job: job).run(), expected) { error in
                XCTAssertEqual((error as? PipelineError)?.code, .usage, "\(error)")
                XCTAssertTrue("\(error)".contains(expected), "\(error) should mention \(expected)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing written for: \(expected)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: input.appendingPathComponent("pipeline.json").path))
        }
    }

    func testOutputsNeverGoThroughSymbolicLinksOutOfTheOutputFolder() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try Fixtures.write(Fixtures.image(width: 30, height: 30), "a/x.png", in: input)
        try Fixtures.write(Fixtures.image(width: 30, height: 30, seed: 1), "b/y.png", in: input)
        let outside = folder.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        let out = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: out.appendingPathComponent("a"), withDestinationURL: outside)
        let job = try job(folder, input: input)
        var failures: [FailureRecord] = []
        let runner = PipelineRunner(job: job)
        runner.onFailure = { failures.append($0) }
        let report = try runner.run()
        XCTAssertEqual(report.progress.done, 1)
        XCTAssertEqual(failures.map(\.path), ["a/x.png"])
        XCTAssertEqual(failures.first?.code, "output")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside.path), [])
    }

    func testOutputFolderInsideTheInputIsNotReadAsInput() throws {
        let folder = try Fixtures.folder()
        try Fixtures.write(Fixtures.image(width: 30, height: 30), "x.png", in: folder)
        var job = try job(folder, input: folder, output: "results")
        job.include = ["*.png"]
        job.artifacts = [.output, .strip]
        XCTAssertEqual(try PipelineRunner(job: job).run().progress.done, 1)
        let again = try PipelineRunner(job: job).run()
        XCTAssertEqual(again.progress.total, 0)
        XCTAssertEqual(again.summary.images, 1)
    }
    func testVeryShortAndVeryNarrowImagesGetStripsWithinTheCap() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try Fixtures.write(Fixtures.image(width: 4000, height: 1, channels: 1), "short.png", in: input)
        try Fixtures.write(Fixtures.image(width: 1, height: 4000, channels: 1, seed: 1), "narrow.png", in: input)
        var job = try job(folder, input: input)
        job.fit = .resize
        job.size = .input
        job.corruptions = [.noise(sigma: 0.1)]
        job.artifacts = [.output, .strip]
        XCTAssertEqual(try PipelineRunner(job: job).run().progress.done, 2)
        for (name, width, height) in [("short", 4000, 1), ("narrow", 1, 4000)] {
            let strip = try ImageLoader().load(URL(fileURLWithPath: job.output).appendingPathComponent(name + ".strip.png"), channels: 1)
            let scale = Finisher.stripScale(width: width, height: height, count: 3)
            let expected = Finisher.stripSize(width: width, height: height, count: 3, scale: scale)
            XCTAssertEqual([strip.width, strip.height], [expected.width, expected.height], name)
            XCTAssertEqual(scale, 1, "\(name): the inputs' own size, not enlarged")
        }
        XCTAssertEqual(Finisher.stripScale(width: 1000, height: 1, count: 3), 1)
        XCTAssertEqual(Finisher.stripScale(width: 100, height: 1, count: 3), 13, "the widest that fits 4096")
        XCTAssertEqual(Finisher.stripScale(width: 28, height: 28, count: 3), 4, "small images still reach 128 high")
    }
    func testASecondRunIntoALockedFolderRefusesOrWaits() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try Fixtures.write(Fixtures.image(width: 30, height: 30), "x.png", in: input)
        let job = try job(folder, input: input)
        try FileManager.default.createDirectory(atPath: job.output, withIntermediateDirectories: true)
        let lockPath = job.output + "/.ign.lock"
        let held = open(lockPath, O_RDWR | O_CREAT, 0o644)
        XCTAssertEqual(flock(held, LOCK_EX | LOCK_NB), 0)

        XCTAssertThrowsError(try PipelineRunner(job: job).run()) { error in
            let error = error as? PipelineError
            XCTAssertEqual(error?.code, .usage)
            XCTAssertTrue(error?.message.contains("another ign run is writing into \(FileSystem.realPath(job.output))") == true, "\(String(describing: error))")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: job.output + "/metrics.jsonl"), "refused before writing")

        final class Outcome: @unchecked Sendable { var done: Int? }  // written before `ended` is signalled
        let outcome = Outcome(), ended = DispatchSemaphore(value: 0)
        let waiting = PipelineRunner(job: job, waitsForLock: true)
        DispatchQueue.global().async {
            outcome.done = (try? waiting.run())?.progress.done
            ended.signal()
        }
        XCTAssertEqual(ended.wait(timeout: .now() + 0.5), .timedOut, "waits while the lock is held")
        close(held)
        XCTAssertEqual(ended.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(outcome.done, 1)
        XCTAssertEqual(try PipelineRunner(job: job).run().summary.images, 1, "the lock is released after a run")
        XCTAssertTrue(FileSystem.isFile(lockPath), "the lock file stays")
        let discovered = try Discovery(root: URL(fileURLWithPath: job.output), include: [], exclude: [], followSymlinks: false, skipping: nil).run()
        XCTAssertFalse(discovered.files.contains(".ign.lock"), "never an input")
    }
    func testANonFiniteNetworkOutputIsAFailureNotAMetric() throws {
        let folder = try Fixtures.folder()
        let input = folder.appendingPathComponent("in")
        try Fixtures.write(Fixtures.image(width: 30, height: 30, channels: 1), "x.png", in: input)
        // Finite weights whose products overflow: decoder.6's inputs are ≈ 10 (the shift of 10 in
        // BatchNorm decoder.4), so with every weight at Float.greatestFiniteMagnitude its outputs
        // are +∞, and the last layer's zero weights make 0·∞ = NaN in any summation order (a sum
        // of +∞ and −∞ products is not enough: some BLAS kernels return ∞ for it).
        let model = try IGNModel(architecture: .dcgan28, channels: 1)
        model.initialize(seed: 1)
        var tensors = model.stateTensors()
        func set(_ name: String, _ value: Float) {
            let t = tensors[name]!
            tensors[name] = .init(floats: [Float](repeating: value, count: t.count), shape: t.shape)
        }
        set("decoder.4.bias", 10)
        set("decoder.6.weight", .greatestFiniteMagnitude)
        set("decoder.9.weight", 0)
        let url = folder.appendingPathComponent("overflowing.safetensors")
        try SafeTensors.write(.init(tensors: tensors, metadata: model.metadata), to: url)
        var job = Job(input: input.path, output: folder.appendingPathComponent("out").path, model: url.path)
        job.corruptions = [.noise(sigma: 0.1)]
        job.artifacts = [.output, .strip]
        var failures: [FailureRecord] = []
        let runner = PipelineRunner(job: job)
        runner.onFailure = { failures.append($0) }
        let report = try runner.run()
        XCTAssertEqual(report.progress.done, 0)
        XCTAssertEqual(failures.map(\.path), ["x.png"])
        XCTAssertEqual(failures.first?.code, "nonFinite")
        XCTAssertTrue(failures.first?.message.contains("the network's output holds") == true, "\(failures)")
        let out = URL(fileURLWithPath: job.output)
        XCTAssertEqual(Fixtures.lines(out.appendingPathComponent("metrics.jsonl")), [], "no metric of a NaN")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("x.png").path))
        XCTAssertEqual(report.summary.failures, 1)
    }
}
