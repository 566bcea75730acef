import Engine
import Foundation
import IGN
import Imaging
import XCTest

/// The built `ign` executable, run as a user would, on real files.
final class CLITests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ign-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// `ign` is built next to the test bundle (on Linux the bundle URL is that folder; elsewhere, the bundle inside it).
    static var executable: URL {
        let bundle = Bundle(for: CLITests.self).bundleURL
        let here = bundle.appendingPathComponent("ign")
        return FileManager.default.isExecutableFile(atPath: here.path) ? here : bundle.deletingLastPathComponent().appendingPathComponent("ign")
    }

    /// How a run of `ign` ended, and what it printed on stderr.
    struct Outcome {
        let status: Int32
        /// False when a signal ended it (a crash), true when it exited.
        let exited: Bool
        let stderr: String
    }

    func run(_ arguments: [String]) throws -> Outcome {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments
        process.currentDirectoryURL = dir
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, exited: process.terminationReason == .exit, stderr: text)
    }

    /// Runs `ign` and checks that it exited with `status`; returns stderr.
    @discardableResult
    func ign(_ arguments: [String], expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let outcome = try run(arguments)
        XCTAssertTrue(outcome.exited, "ign \(arguments.joined(separator: " ")) crashed: \(outcome.stderr)", file: file, line: line)
        XCTAssertEqual(outcome.status, status, "ign \(arguments.joined(separator: " ")): \(outcome.stderr)", file: file, line: line)
        return outcome.stderr
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    func url(_ name: String) -> URL { dir.appendingPathComponent(name) }

    /// 64 tiny28 samples: vertical bars at different places.
    func writeData() throws {
        var values = [Float](repeating: -1, count: 64 * 784)
        for i in 0..<64 { for y in 4..<24 { for x in (2 + i % 20)..<(6 + i % 20) { values[i * 784 + y * 28 + x] = 1 } } }
        try NPY.write(values, shape: [64, 1, 28, 28], to: url("data.npy"))
    }

    /// A tiny28 model with seeded random weights, saved as `model.safetensors`.
    func writeModel() throws {
        let model = try IGNModel(architecture: .tiny28, channels: 1)
        model.initialize(seed: 1)
        try model.save(to: url("model.safetensors"))
    }

    /// Every file under `dir`, relative to it.
    func files() -> Set<String> {
        let root = dir.resolvingSymlinksInPath().path + "/"
        let found = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)?.compactMap { ($0 as? URL)?.resolvingSymlinksInPath().path } ?? []
        return Set(found.map { $0.hasPrefix(root) ? String($0.dropFirst(root.count)) : $0 })
    }

    /// Training writes the model and its checkpoint (creating folders on the way), records the
    /// run, and a run started from a model's weights names the file it started from.
    func testTrain() throws {
        try writeData()
        let common = ["train", "--data", "data.npy", "--arch", "tiny28", "--channels", "1", "--batch", "16", "--seed", "3",
                      "--checkpoint-every", "2", "--threads", "1"]
        try ign(common + ["--steps", "6", "--output", "m.safetensors"])
        let trained = try SafeTensors.read(url("m.safetensors"))
        XCTAssertEqual(trained.metadata["arch"], "tiny28")
        XCTAssertEqual(trained.metadata["channels"], "1")
        XCTAssertEqual(trained.metadata["steps"], "6")
        XCTAssertTrue(Set(trained.metadata.keys).isDisjoint(with: Checkpoint.keys), "\(trained.metadata.keys.sorted())")
        let layout = try IGNModel(architecture: .tiny28, channels: 1).network.store.layout
        XCTAssertFalse(layout.parameters.isEmpty)
        for view in layout.parameters + layout.buffers {
            XCTAssertEqual(trained.tensors[view.name]?.shape, view.shape, "tiny28's \(view.name)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("m.ckpt.safetensors")), "checkpoint beside the model")

        try ign(common + ["--steps", "1", "--out", "new/folder/m.safetensors"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("new/folder/m.safetensors")), "--out is --output")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("new/folder/m.ckpt.safetensors")), "output folders are created")

        try ign(["train", "--data", "data.npy", "--arch", "tiny28", "--channels", "1", "--batch", "16", "--threads", "1",
                 "--init-weights", "m.safetensors", "--lr", "2e-5", "--steps", "2", "--output", "annealed.safetensors"])
        let annealed = try SafeTensors.read(url("annealed.safetensors")).metadata
        XCTAssertEqual(annealed["init_weights"], "m.safetensors (6 steps, lr 0.0001)")
        XCTAssertEqual(annealed["steps"], "2")
        XCTAssertEqual(annealed["lr"], "2e-05")
        XCTAssertTrue(Set(annealed.keys).isDisjoint(with: Checkpoint.keys), "\(annealed.keys.sorted())")
    }

    /// The same run in two halves, stopped after 3 steps and resumed to 6, ends with the very
    /// weights of the uninterrupted run.
    func testResumeEqualsUninterruptedRun() throws {
        try writeData()
        let common = ["train", "--data", "data.npy", "--arch", "tiny28", "--channels", "1", "--batch", "16", "--seed", "3",
                      "--checkpoint-every", "2", "--threads", "1"]
        let (straight, resumed) = try stoppedAndResumed(common, steps: 6, stop: 3)
        XCTAssertEqual(resumed.metadata["steps"], "6")
        XCTAssertTrue(Set(resumed.metadata.keys).isDisjoint(with: Checkpoint.keys), "no stale checkpoint state: \(resumed.metadata.keys.sorted())")
        XCTAssertEqual(Set(straight.tensors.keys), Set(resumed.tensors.keys))
        for (name, tensor) in straight.tensors { XCTAssertEqual(tensor.data, resumed.tensors[name]?.data, name) }
    }

    /// With `--source`, z mixes the model's noise with libvips corruptions of training images; the
    /// run resumes to the uninterrupted run's weights and the model file names the mix.
    func testSourceMixTrainsAndResumes() throws {
        try writeData()
        let common = ["train", "--data", "data.npy", "--arch", "tiny28", "--channels", "1", "--batch", "16", "--seed", "3",
                      "--checkpoint-every", "2", "--threads", "1",
                      "--source", "0.5:model", "--source", "0.3:noise:0.2", "--source", "0.2:sketch,noise:0.05"]
        let (straight, resumed) = try stoppedAndResumed(common, steps: 4, stop: 2)
        XCTAssertEqual(straight.metadata["sources"], "0.5:model 0.3:noise:0.2 0.2:sketch,noise:0.05")
        for (name, tensor) in straight.tensors { XCTAssertEqual(tensor.data, resumed.tensors[name]?.data, name) }
        let bad = try ign(common + ["--steps", "2", "--output", "x.safetensors", "--source", "0.2:blurr:1"], expect: 2)
        XCTAssertTrue(bad.contains("--source 0.2:blurr:1") && bad.contains("unknown kind"), bad)
    }

    /// The SURE term on a `gaussian:σ` source: a run stopped and resumed ends with the uninterrupted
    /// run's weights (the probe is drawn from z itself), and `--lambda-tight` on a resume changes the
    /// run's tightness weight, as its model file records.
    func testSURERunResumesAndResumeChangesTightness() throws {
        try writeData()
        let common = ["train", "--data", "data.npy", "--arch", "tiny28", "--channels", "1", "--batch", "16", "--seed", "3",
                      "--checkpoint-every", "2", "--threads", "1", "--lambda-sure", "50",
                      "--source", "0.5:model", "--source", "0.5:gaussian:0.2"]
        let (straight, resumed) = try stoppedAndResumed(common, steps: 4, stop: 2)
        for (name, tensor) in straight.tensors { XCTAssertEqual(tensor.data, resumed.tensors[name]?.data, name) }
        let objective = { (file: SafeTensors.File) in
            try JSONDecoder().decode(ObjectiveConfig.self, from: Data(XCTUnwrap(file.metadata["objective"]).utf8))
        }
        XCTAssertEqual(try objective(straight).lambdaSURE, 50)
        XCTAssertTrue(try XCTUnwrap(straight.metadata["final_losses"]).contains("sure "))
        try ign(["train", "--resume", "half.ckpt.safetensors", "--steps", "3", "--lambda-tight", "0.5", "--output", "looser.safetensors", "--threads", "1"])
        let looser = try objective(SafeTensors.read(url("looser.safetensors")))
        XCTAssertEqual(looser.lambdaTight, 0.5)
        XCTAssertEqual(looser.lambdaSURE, 50)
    }

    /// The run `common` trained straight to `steps` (straight.safetensors), and the same run stopped
    /// at `stop` (checkpoint half.ckpt.safetensors) and resumed to `steps` (resumed.safetensors).
    private func stoppedAndResumed(_ common: [String], steps: Int, stop: Int) throws -> (straight: SafeTensors.File, resumed: SafeTensors.File) {
        try ign(common + ["--steps", "\(steps)", "--output", "straight.safetensors"])
        try ign(common + ["--steps", "\(stop)", "--output", "half.safetensors", "--checkpoint", "half.ckpt.safetensors"])
        try ign(["train", "--resume", "half.ckpt.safetensors", "--steps", "\(steps)", "--output", "resumed.safetensors", "--threads", "1"])
        return (try SafeTensors.read(url("straight.safetensors")), try SafeTensors.read(url("resumed.safetensors")))
    }

    /// `apply` writes f^k(x) with the input's shape: the library's projection, batch by batch.
    func testApply() throws {
        try writeData()
        try ign(["train", "--data", "data.npy", "--arch", "tiny28", "--batch", "16", "--steps", "2", "--threads", "1",
                 "--output", "model.safetensors"])
        let projector = Projector(model: try IGNModel.load(url("model.safetensors")), threads: 1)
        let x = Array(try NPY.read(url("data.npy")).values.prefix(5 * 784))
        try NPY.write(x, shape: [5, 1, 28, 28], to: url("x.npy"))
        try ign(["apply", "--model", "model.safetensors", "--input", "x.npy", "--output", "y.npy", "--steps", "2", "--threads", "1"])
        let (shape, y) = try NPY.read(url("y.npy"))
        XCTAssertEqual(shape, [5, 1, 28, 28])
        XCTAssertEqual(y, projector.apply(x, count: 5, steps: 2)[1])

        try ign(["apply", "--model", "model.safetensors", "--input", "x.npy", "--out", "chunked.npy", "--steps", "2",
                 "--batch", "2", "--threads", "1"])
        let chunked = try NPY.read(url("chunked.npy"))
        XCTAssertEqual(chunked.shape, [5, 1, 28, 28])
        XCTAssertEqual(chunked.values, y, "eval mode is per sample: batches of 2, 2 and 1 give the same values")

        try ign(["apply", "--model", "model.safetensors", "--input", "x.npy", "--output", "train-mode.npy", "--train-mode", "--threads", "1"])
        let trainMode = try NPY.read(url("train-mode.npy"))
        XCTAssertEqual(trainMode.shape, [5, 1, 28, 28])
        XCTAssertEqual(trainMode.values, projector.apply(x, count: 5, steps: 1, trainMode: true)[0])
    }

    /// IGN_SIMD picks the instruction set (for comparing machines): the photo model's output is the
    /// same bits with AVX-512, AVX2 and plain scalar code (direct and strided convolutions, tanh), at
    /// batch 1 on two threads and at batch 3 on one.
    func testEveryInstructionSetGivesTheSameBits() throws {
        let values = (0..<(3 * 3 * 64 * 64)).map { (i: Int) -> Float in
            let ripple = sin(Double(i) * 0.37), rows = cos(Double(i / 64) * 0.11)
            return Float(0.6 * ripple + 0.3 * rows)
        }
        try NPY.write(values, shape: [3, 3, 64, 64], to: url("photos.npy"))
        var outputs: [String: [Float]] = [:]
        for simd in ["avx512", "avx2", "scalar"] {
            for (batch, threads) in [("1", "2"), ("3", "1")] {
                let process = Process()
                process.executableURL = Self.executable
                process.arguments = ["apply", "--model", "photo64", "--input", "photos.npy", "--output", "y-\(simd).npy",
                                     "--batch", batch, "--threads", threads]
                process.currentDirectoryURL = dir
                process.environment = ProcessInfo.processInfo.environment.merging(["IGN_SIMD": simd]) { $1 }
                try process.run()
                process.waitUntilExit()
                XCTAssertEqual(process.terminationStatus, 0, simd)
                let y = try NPY.read(url("y-\(simd).npy")).values
                if let first = outputs.values.first { XCTAssertEqual(y.map(\.bitPattern), first.map(\.bitPattern), "\(simd), batch \(batch)") }
                outputs[simd] = y
            }
        }
        XCTAssertEqual(outputs.count, 3)
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = ["bench", "--arch", "tiny28:1", "--batches", "1", "--train-batch", "2", "--seconds", "0.05", "--json", "bench.json"]
        process.currentDirectoryURL = dir
        process.environment = ProcessInfo.processInfo.environment.merging(["IGN_SIMD": "scalar"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let bench = try JSONSerialization.jsonObject(with: Data(contentsOf: url("bench.json"))) as? [String: Any]
        XCTAssertEqual(bench?["gemm_kernel"] as? String, "scalar", "IGN_SIMD=scalar runs the scalar kernel")
    }

    /// `sample` lays out one row per step for each group of `--columns` samples; cells are the
    /// 28-pixel images upscaled (by 64 / 28 = 2 unless `--scale` says otherwise), 2 pixels apart
    /// and from the edges. Cells past the last sample stay white.
    func testSample() throws {
        try writeModel()
        // 5 samples in groups of 3: 2 groups × 2 steps = 4 rows of 3 cells of 56 pixels.
        try ign(["sample", "--model", "model.safetensors", "--count", "5", "--columns", "3", "--steps", "2", "--out", "grid.png"])
        let grid = try ImageLoader().load(url("grid.png"))
        XCTAssertEqual([grid.width, grid.height], [3 * 58 + 2, 4 * 58 + 2])
        // The second group's third cell, in both its rows, is empty: white.
        for row in [2, 3] {
            let x0 = 2 + 2 * 58, y0 = 2 + row * 58
            let cell = (y0..<(y0 + 56)).flatMap { y in (x0..<(x0 + 56)).map { grid.pixels[y * grid.width + $0] } }
            XCTAssertEqual(Set(cell), [1], "row \(row)")
        }
        let first = (2..<58).flatMap { y in (2..<58).map { grid.pixels[y * grid.width + $0] } }
        XCTAssertNotEqual(Set(first), [1], "the first cell holds a sample")

        // z above f(z) and f(f(z)): 2 groups × 3 rows.
        try ign(["sample", "--model", "model.safetensors", "--count", "6", "--columns", "3", "--steps", "2", "--show-noise",
                 "--output", "noise.png"])
        let withNoise = try ImageLoader().load(url("noise.png"))
        XCTAssertEqual([withNoise.width, withNoise.height], [3 * 58 + 2, 6 * 58 + 2])

        // More columns than samples: one row of 4 cells, at scale 1 (28 + 2 pixels each).
        try ign(["sample", "--model", "model.safetensors", "--count", "4", "--columns", "16", "--steps", "1", "--scale", "1",
                 "--output", "small.png"])
        let small = try ImageLoader().load(url("small.png"))
        XCTAssertEqual([small.width, small.height], [4 * 30 + 2, 30 + 2])
    }

    /// `interpolate` writes a row per pair and a column per frame.
    func testInterpolate() throws {
        try writeModel()
        try ign(["interpolate", "--model", "model.safetensors", "--pairs", "2", "--frames", "4", "--out", "interp.png"])
        let interp = try ImageLoader().load(url("interp.png"))
        XCTAssertEqual([interp.width, interp.height], [4 * 58 + 2, 2 * 58 + 2])
        try ign(["interpolate", "--model", "model.safetensors", "--pairs", "3", "--frames", "2", "--steps", "2", "--scale", "3",
                 "--output", "big.png"])
        let big = try ImageLoader().load(url("big.png"))
        XCTAssertEqual([big.width, big.height], [2 * 86 + 2, 3 * 86 + 2])
    }

    /// `calibrate` re-estimates the BatchNorm statistics, with noisy samples mixed in, and writes
    /// F16 weights; it refuses a model without BatchNorm.
    func testCalibrate() throws {
        try writeData()
        try writeModel()
        try ign(["calibrate", "--model", "model.safetensors", "--data", "data.npy", "--batches", "5", "--batch", "16",
                 "--noisy-fraction", "0.3", "--noise-sigmas", "0.1,0.2", "--half", "--out", "shipped/m.safetensors"])
        let shipped = try SafeTensors.read(url("shipped/m.safetensors"))
        XCTAssertEqual(shipped.tensors["decoder.1.running_var"]?.dtype, .f16)
        XCTAssertTrue(shipped.metadata["batchnorm"]?.contains("30% with noise σ ∈ {0.1, 0.2}") == true, "\(shipped.metadata)")

        // A model without BatchNorm has nothing to calibrate: refused, nothing written.
        let plain = try IGNModel(architecture: .fcnTiny, channels: 1)
        plain.initialize(seed: 1)
        try plain.save(to: url("plain.safetensors"))
        let stderr = try ign(["calibrate", "--model", "plain.safetensors", "--data", "data.npy", "--out", "p.safetensors"], expect: 1)
        XCTAssertTrue(stderr.contains("has no BatchNorm layers"), stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: url("p.safetensors").path))
    }

    /// Every value a user can get wrong is a usage error: exit 2, one line `ign: …` on stderr
    /// that names the option (or the file), no crash, nothing written.
    func testBadValuesAreUsageErrors() throws {
        try writeData()
        try writeModel()
        try FileManager.default.createDirectory(at: url("in"), withIntermediateDirectories: true)
        try PlanarImage(width: 8, height: 8, channels: 3, fill: 0).write(to: url("in/a.png"))
        try "input: in\noutput: out\nmodel: model.safetensors\n".write(to: url("job.yaml"), atomically: true, encoding: .utf8)
        let before = files()

        let model = ["--model", "model.safetensors"]
        let apply = ["apply"] + model + ["--input", "data.npy", "--output", "y.npy"]
        let sample = ["sample"] + model + ["--output", "grid.png"]
        let interpolate = ["interpolate"] + model + ["--output", "grid.png"]
        let train = ["train", "--data", "data.npy", "--arch", "tiny28", "--output", "m.safetensors"]
        let eval = ["eval"] + model + ["--data", "data.npy"]
        let calibrate = ["calibrate"] + model + ["--data", "data.npy", "--output", "c.safetensors"]
        let corrupt = ["corrupt", "in", "--output", "out", "--corrupt", "noise:0.1"]
        let drift = ["drift", "in"] + model
        let runFile = ["run", "job.yaml"]
        let emoji = ["dataset", "emoji", "--font", "data.npy", "--output", "d"]
        let photos = ["dataset", "photos", "--input", "in", "--output", "d"]
        let fashion = ["dataset", "fashion", "--output", "d", "--train-file", "data.npy", "--test-file", "data.npy"]
        let cases: [([String], String)] = [
            (["frobnicate"], "frobnicate"),
            (apply + ["--frobnicate"], "--frobnicate"),
            (["apply", "--input", "data.npy", "--output", "y.npy"], "--model"),
            (apply + ["--steps", "0"], "--steps"),
            (apply + ["--steps=-3"], "--steps"),
            (apply + ["--steps", "1000"], "--steps"),
            (apply + ["--steps", "two"], "--steps"),
            (apply + ["--steps", "99999999999999999999"], "--steps"),
            (apply + ["--batch", "0"], "--batch"),
            (apply + ["--batch", "1000000"], "--batch"),
            (apply + ["--threads", "0"], "--threads"),
            (apply + ["--threads", "100000"], "--threads"),
            (["apply"] + model + ["--input", "missing.npy", "--output", "y.npy"], "missing.npy"),
            (["apply", "--model", "missing.safetensors", "--input", "data.npy", "--output", "y.npy"], "missing.safetensors"),
            (sample + ["--count", "0"], "--count"),
            (sample + ["--count=-1"], "--count"),
            (sample + ["--count", "1000000"], "--count"),
            (sample + ["--count", "many"], "--count"),
            (sample + ["--steps", "0"], "--steps"),
            (sample + ["--columns", "0"], "--columns"),
            (sample + ["--scale", "0"], "--scale"),
            (sample + ["--scale", "1000"], "--scale"),
            (sample + ["--seed", "-1"], "--seed"),
            (sample + ["--count", "4096", "--steps", "100"], "--count"),
            (["sample"] + model + ["--output", "grid.bmp"], "--output"),
            (["sample"] + model, "--output"),
            (interpolate + ["--pairs", "0"], "--pairs"),
            (interpolate + ["--frames", "1"], "--frames"),
            (interpolate + ["--frames", "100000"], "--frames"),
            (interpolate + ["--pairs", "100", "--frames", "100"], "--pairs"),
            (interpolate + ["--steps", "0"], "--steps"),
            (interpolate + ["--scale", "64", "--frames", "64", "--pairs", "64"], "--scale"),
            (train + ["--batch", "1"], "--batch"),
            (train + ["--batch", "100000"], "--batch"),
            (train + ["--epochs", "0"], "--epochs"),
            (train + ["--steps", "0"], "--steps"),
            (train + ["--lambda-local-mean", "5", "--source", "1:grayscale"], "--lambda-local-mean"),
            (train + ["--lambda-sure", "5", "--source", "1:noise:0.1"], "--lambda-sure"),
            (train + ["--lambda-sure=-1", "--source", "1:gaussian:0.1"], "--lambda-sure"),
            (train + ["--local-mean-block", "0"], "--local-mean-block"),
            (train + ["--steps", "10000000000"], "--steps"),
            (train + ["--lr", "0"], "--lr"),
            (train + ["--lr", "nan"], "--lr"),
            (train + ["--lr", "inf"], "--lr"),
            (train + ["--lr=-1"], "--lr"),
            (train + ["--lambda-rec=-1"], "--lambda-rec"),
            (train + ["--lambda-idem", "nan"], "--lambda-idem"),
            (train + ["--lambda-tight", "1e9"], "--lambda-tight"),
            (train + ["--tight-a", "0"], "--tight-a"),
            (train + ["--channels", "2"], "--channels"),
            (train + ["--arch", "nonsense"], "--arch"),
            (train + ["--noise", "pink"], "--noise"),
            (train + ["--distance", "l3"], "--distance"),
            (train + ["--checkpoint-every", "0"], "--checkpoint-every"),
            (train + ["--snapshot-every", "0"], "--snapshot-every"),
            (train + ["--log-every", "0"], "--log-every"),
            (train + ["--init-weights", "missing.safetensors"], "--init-weights"),
            (train + ["--noise-file", "missing.npy"], "--noise-file"),
            (["train", "--arch", "tiny28", "--output", "m.safetensors"], "--data"),
            (["train", "--data", "missing.npy", "--output", "m.safetensors"], "--data"),
            (["train", "--resume", "missing.ckpt.safetensors", "--output", "m.safetensors"], "--resume"),
            (eval + ["--limit", "0"], "--limit"),
            (eval + ["--val", "missing.npy"], "--val"),
            (["eval"] + model + ["--data", "missing.npy"], "--data"),
            (calibrate + ["--batches", "0"], "--batches"),
            (calibrate + ["--batch", "1"], "--batch"),
            (calibrate + ["--noisy-fraction", "1.5"], "--noisy-fraction"),
            (calibrate + ["--noisy-fraction", "nan"], "--noisy-fraction"),
            (calibrate + ["--noise-sigmas", "0.1,x"], "--noise-sigmas"),
            (calibrate + ["--noise-sigmas", "0"], "--noise-sigmas"),
            (calibrate + ["--noise-sigmas", "inf"], "--noise-sigmas"),
            (["bench", "--batches", "0"], "--batches"),
            (["bench", "--train-batch", "1"], "--train-batch"),
            (["bench", "--seconds", "0"], "--seconds"),
            (["bench", "--seconds", "nan"], "--seconds"),
            (["bench", "--arch", "dcgan99"], "--arch"),
            (["bench", "--arch", "dcgan28:2"], "--arch"),
            (["bench-pipeline", "--count", "0"], "--count"),
            (["bench-pipeline", "--size", "100000"], "--size"),
            (["bench-pipeline", "--workers=-1"], "--workers"),
            (["bench-pipeline", "--threads", "1000"], "--threads"),
            (["bench-pipeline", "--batch", "0"], "--batch"),
            (["bench-pipeline", "--fit", "squash"], "--fit"),
            (["bench-pipeline", "--model", "missing.safetensors"], "--model"),
            (corrupt + ["--corrupt", "noise:loud"], "--corrupt"),
            (corrupt + ["--corrupt", "blur:1e9"], "--corrupt"),
            (corrupt + ["--corrupt", "holes:100000000:4"], "--corrupt"),
            (corrupt + ["--format", "bmp"], "--format"),
            (corrupt + ["--workers", "1000"], "--workers"),
            (corrupt + ["--batch", "0"], "--batch"),
            (["corrupt", "missing", "--output", "out", "--corrupt", "grayscale"], "missing"),
            (drift + ["--steps", "0"], "--steps"),
            (drift + ["--fit", "squash"], "--fit"),
            (drift + ["--corrupt", "jpeg:0"], "--corrupt"),
            (drift + ["--threads=-1"], "--threads"),
            (["drift", "in", "--model", "missing.safetensors"], "--model"),
            (runFile + ["--steps", "0"], "--steps"),
            (runFile + ["--batch", "0"], "--batch"),
            (runFile + ["--fit", "squash"], "--fit"),
            (runFile + ["--model", "missing.safetensors"], "--model"),
            (["run", "missing.yaml"], "missing.yaml"),
            (["models", "nonsense"], "nonsense"),
            (emoji + ["--size", "0"], "--size"),
            (emoji + ["--size", "100000"], "--size"),
            (emoji + ["--test-fraction", "1"], "--test-fraction"),
            (emoji + ["--val-fraction=-0.1"], "--val-fraction"),
            (emoji + ["--limit", "1"], "--limit"),
            (emoji + ["--export-test=-1"], "--export-test"),
            (["dataset", "emoji", "--font", "missing.ttf", "--output", "d"], "--font"),
            (photos + ["--patches", "0"], "--patches"),
            (photos + ["--test-patches", "0"], "--test-patches"),
            (photos + ["--size", "512"], "--size"),
            (photos + ["--patches", "1000000", "--size", "256"], "--patches"),
            (photos + ["--scales", "0,2"], "--scales"),
            (photos + ["--scales", "half"], "--scales"),
            (photos + ["--max-side", "1"], "--max-side"),
            (["dataset", "photos", "--input", "missing", "--output", "d"], "--input"),
            (fashion + ["--val=-1"], "--val"),
            (["dataset", "fashion", "--output", "d", "--train-file", "missing.gz", "--test-file", "data.npy"], "--train-file"),
        ]
        // Two at a time: each is a process start and a few checks.
        var outcomes = [Result<Outcome, Error>?](repeating: nil, count: cases.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: cases.count) { i in
            let outcome = Result { try run(cases[i].0) }
            lock.lock()
            outcomes[i] = outcome
            lock.unlock()
        }
        for ((arguments, option), outcome) in zip(cases, outcomes) {
            let command = "ign \(arguments.joined(separator: " "))"
            let outcome = try XCTUnwrap(outcome).get()
            XCTAssertTrue(outcome.exited, "\(command) crashed: \(outcome.stderr)")
            XCTAssertEqual(outcome.status, 2, "\(command): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains(option), "\(command) should name \(option): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.hasPrefix("ign: "), "\(command): \(outcome.stderr)")
            XCTAssertEqual(outcome.stderr.filter { $0 == "\n" }.count, 1, "\(command): one line: \(outcome.stderr)")
            for crash in ["fatal error", "stack dump", "backtrace", "crashed"] {
                XCTAssertFalse(outcome.stderr.lowercased().contains(crash), "\(command): \(outcome.stderr)")
            }
        }
        XCTAssertEqual(files(), before, "no refused command wrote anything")
    }

    /// Files that exist but cannot be used are fatal errors: exit 1, one line naming the file.
    func testBadFilesAreFatalErrors() throws {
        try writeData()
        try writeModel()
        try Data("garbage".utf8).write(to: url("bad.safetensors"))
        try Data("garbage".utf8).write(to: url("bad.npy"))
        try NPY.write([Float](repeating: 0, count: 2 * 3 * 28 * 28), shape: [2, 3, 28, 28], to: url("colour.npy"))
        try NPY.write([], shape: [0, 1, 28, 28], to: url("empty.npy"))
        let cases: [([String], String)] = [
            (["eval", "--model", "model.safetensors", "--data", "empty.npy"], "empty.npy: holds no images"),
            (["calibrate", "--model", "model.safetensors", "--data", "empty.npy", "--output", "c.safetensors"], "empty.npy: holds no images"),
            (["apply", "--model", "model.safetensors", "--input", "empty.npy", "--output", "y.npy"], "empty.npy: holds no images"),
            (["train", "--data", "empty.npy", "--arch", "tiny28", "--channels", "1", "--output", "m.safetensors"], "empty.npy: holds no images"),
            (["sample", "--model", "bad.safetensors", "--output", "g.png"], "bad.safetensors: not a safetensors file"),
            (["apply", "--model", "model.safetensors", "--input", "bad.npy", "--output", "y.npy"], "bad.npy"),
            (["apply", "--model", "model.safetensors", "--input", "colour.npy", "--output", "y.npy"], "colour.npy: shape [2, 3, 28, 28]"),
            (["train", "--data", "colour.npy", "--arch", "tiny28", "--channels", "1", "--output", "m.safetensors"], "colour.npy"),
            (["train", "--resume", "model.safetensors", "--output", "m.safetensors"], "not an ign training checkpoint"),
        ]
        for (arguments, message) in cases {
            let command = "ign \(arguments.joined(separator: " "))"
            let stderr = try ign(arguments, expect: 1)
            // Training logs before it fails; the error is the last line.
            let last = stderr.split(separator: "\n").last.map(String.init) ?? ""
            XCTAssertTrue(last.hasPrefix("ign: ") && last.contains(message), "\(command): \(stderr)")
        }
    }

    /// A file name with terminal escape codes (a window-title sequence and a bell) reaches
    /// stderr escaped, on one line, never raw.
    func testControlCharactersInFileNamesAreEscaped() throws {
        let input = url("in")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        let name = "evil\u{1B}]0;owned\u{07}\nline.png"
        try Data("not an image".utf8).write(to: input.appendingPathComponent(name))
        let stderr = try ign(["corrupt", "in", "--output", "out", "--corrupt", "grayscale", "--quiet"], expect: 3)
        XCTAssertFalse(stderr.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "raw control characters: \(stderr.debugDescription)")
        let failure = try XCTUnwrap(stderr.split(separator: "\n").first { $0.contains("evil") }, stderr)
        XCTAssertTrue(failure.contains("evil\\u{1B}]0;owned\\u{7}\\u{A}line.png"), String(failure))
    }

    /// A bare name means the bundled model even when the current folder has a file or folder of
    /// that name (an earlier `--output fashion28`); that one is reached as `./fashion28`.
    func testBareModelNamesAreNotShadowedByTheCurrentFolder() throws {
        try FileManager.default.createDirectory(at: url("fashion28"), withIntermediateDirectories: true)
        try ign(["sample", "--model", "fashion28", "--count", "2", "--steps", "1", "--output", "g.png", "--threads", "1"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("g.png")))
        let outcome = try run(["sample", "--model", "./fashion28", "--count", "2", "--output", "h.png"])
        XCTAssertTrue(outcome.exited)
        XCTAssertNotEqual(outcome.status, 0, "./fashion28 is the folder, not a model")
        XCTAssertTrue(outcome.stderr.contains(path("fashion28") + ": "), "the error names the folder: \(outcome.stderr)")
    }

    /// A huge bad value is named in the error, not echoed whole.
    func testHugeValuesAreNotEchoedWhole() throws {
        let huge = "noise:" + String(repeating: "9", count: 100_000)  // under the kernel's 128 KiB per argument
        let stderr = try ign(["corrupt", "in", "--output", "out", "--corrupt", huge], expect: 2)
        XCTAssertLessThan(stderr.utf8.count, 2_500, "stderr is \(stderr.utf8.count) bytes")
        XCTAssertTrue(stderr.hasPrefix("ign: ") && stderr.contains("more characters)"), String(stderr.prefix(300)))
    }

    /// Data or a model with a NaN is a fatal error naming the file and where the NaN is.
    func testNonFiniteDataAndModelsAreFatalErrors() throws {
        try writeModel()
        var values = [Float](repeating: -1, count: 8 * 784)
        values[3 * 784 + 5 * 28 + 7] = .nan
        try NPY.write(values, shape: [8, 1, 28, 28], to: url("nan.npy"))
        var model = try SafeTensors.read(url("model.safetensors"))
        var weights = model.tensors["decoder.1.running_mean"]!.floats()
        weights[2] = .nan
        model.tensors["decoder.1.running_mean"] = .init(floats: weights, shape: model.tensors["decoder.1.running_mean"]!.shape)
        try SafeTensors.write(model, to: url("nan.safetensors"))
        let data = "nan.npy: value nan at index [3, 0, 5, 7]"
        let cases: [([String], String)] = [
            (["train", "--data", "nan.npy", "--arch", "tiny28", "--channels", "1", "--steps", "1", "--output", "m.safetensors"], data),
            (["calibrate", "--model", "model.safetensors", "--data", "nan.npy", "--batches", "1", "--batch", "4", "--output", "c.safetensors"], data),
            (["apply", "--model", "model.safetensors", "--input", "nan.npy", "--output", "y.npy"], data),
            (["eval", "--model", "model.safetensors", "--data", "nan.npy"], data),
            (["sample", "--model", "nan.safetensors", "--output", "g.png"], "nan.safetensors: tensor 'decoder.1.running_mean' holds nan at index 2"),
        ]
        for (arguments, message) in cases {
            let stderr = try ign(arguments, expect: 1)
            let last = stderr.split(separator: "\n").last.map(String.init) ?? ""
            XCTAssertTrue(last.hasPrefix("ign: ") && last.contains(message), "ign \(arguments.joined(separator: " ")): \(stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("m.safetensors")) || FileManager.default.fileExists(atPath: path("y.npy")))
    }
    /// A step with a non-finite loss (here: finite but enormous data in the second batch), or
    /// one that leaves a BatchNorm statistic infinite (enormous noise), ends training with exit 1,
    /// no model file, and the checkpoint of the last good step.
    func testNonFiniteTrainingStopsKeepingTheLastGoodCheckpoint() throws {
        let enormous = (0..<(16 * 784)).map { Float($0 % 2 == 0 ? 3e38 : -3e38) }
        try NPY.write([Float](repeating: 0.1, count: 16 * 784) + enormous, shape: [32, 1, 28, 28], to: url("big.npy"))
        try NPY.write([Float](repeating: 0.1, count: 32 * 784), shape: [32, 1, 28, 28], to: url("small.npy"))
        for (data, noise, message) in [("big.npy", "small.npy", "step 2: the loss is not finite"),
                                       ("small.npy", "big.npy", "step 2: tensor 'encoder.3.running_var' became inf")] {
            try? FileManager.default.removeItem(at: url("m.ckpt.safetensors"))
            let stderr = try ign(["train", "--data", data, "--noise-file", noise, "--no-shuffle", "--arch", "tiny28", "--channels", "1",
                                  "--batch", "16", "--steps", "4", "--checkpoint-every", "1", "--threads", "1", "--output", "m.safetensors"], expect: 1)
            let last = stderr.split(separator: "\n").last.map(String.init) ?? ""
            XCTAssertTrue(last.hasPrefix("ign: " + message) && last.contains("m.ckpt.safetensors keeps step 1"), stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("m.safetensors")))
            XCTAssertEqual(try SafeTensors.read(url("m.ckpt.safetensors")).metadata["step"], "1")
            XCTAssertNoThrow(try BundledModels.load(path("m.ckpt.safetensors")), "the kept checkpoint holds finite weights")
        }
    }
}
