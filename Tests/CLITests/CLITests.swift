import Engine
import Foundation
import IGN
import Imaging
import XCTest

/// The built `ign` executable, run as a user would.
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

    /// Runs `ign` with arguments; returns exit status and stderr.
    @discardableResult
    func ign(_ arguments: [String], expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> String {
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
        XCTAssertEqual(process.terminationStatus, status, "ign \(arguments.joined(separator: " ")): \(text)", file: file, line: line)
        return text
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// 64 tiny28 samples: vertical bars at different places.
    func writeData() throws {
        var values = [Float](repeating: -1, count: 64 * 784)
        for i in 0..<64 { for y in 4..<24 { for x in (2 + i % 20)..<(6 + i % 20) { values[i * 784 + y * 28 + x] = 1 } } }
        try NPY.write(values, shape: [64, 1, 28, 28], to: dir.appendingPathComponent("data.npy"))
    }

    func testTrainResumeApplySample() throws {
        try writeData()
        let common = ["train", "--data", "data.npy", "--arch", "tiny28", "--channels", "1", "--batch", "16", "--seed", "3",
                      "--checkpoint-every", "2", "--threads", "1"]
        try ign(common + ["--steps", "6", "--out", "straight.safetensors"])
        try ign(common + ["--steps", "1", "--out", "new/folder/m.safetensors"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("new/folder/m.ckpt.safetensors")), "output folders are created")
        // The same run in two halves: stop after 3 steps, then resume to 6.
        try ign(common + ["--steps", "3", "--out", "half.safetensors", "--checkpoint", "half.ckpt.safetensors"])
        try ign(["train", "--resume", "half.ckpt.safetensors", "--steps", "6", "--out", "resumed.safetensors", "--threads", "1"])
        let straight = try SafeTensors.read(dir.appendingPathComponent("straight.safetensors"))
        let resumed = try SafeTensors.read(dir.appendingPathComponent("resumed.safetensors"))
        XCTAssertEqual(resumed.metadata["steps"], "6")
        XCTAssertTrue(Set(resumed.metadata.keys).isDisjoint(with: Checkpoint.keys), "no stale checkpoint state: \(resumed.metadata.keys.sorted())")
        try ign(["train", "--data", "data.npy", "--arch", "tiny28", "--channels", "1", "--batch", "16", "--threads", "1",
                 "--init-weights", "resumed.safetensors", "--lr", "2e-5", "--steps", "2", "--out", "annealed.safetensors"])
        let annealed = try SafeTensors.read(dir.appendingPathComponent("annealed.safetensors")).metadata
        XCTAssertEqual(annealed["init_weights"], "resumed.safetensors (6 steps, lr 0.0001)")
        XCTAssertEqual(annealed["steps"], "2")
        XCTAssertEqual(annealed["lr"], "2e-05")
        XCTAssertTrue(Set(annealed.keys).isDisjoint(with: Checkpoint.keys), "\(annealed.keys.sorted())")
        for (name, tensor) in straight.tensors { XCTAssertEqual(tensor.data, resumed.tensors[name]?.data, name) }

        try NPY.write(Array(try NPY.read(dir.appendingPathComponent("data.npy")).values.prefix(5 * 784)), shape: [5, 1, 28, 28],
                      to: dir.appendingPathComponent("x.npy"))
        try ign(["apply", "--model", "straight.safetensors", "--input", "x.npy", "--output", "y.npy", "--steps", "2"])
        let (shape, y) = try NPY.read(dir.appendingPathComponent("y.npy"))
        XCTAssertEqual(shape, [5, 1, 28, 28])
        let model = try IGNModel.load(dir.appendingPathComponent("straight.safetensors"))
        let x = try NPY.read(dir.appendingPathComponent("x.npy")).values
        XCTAssertEqual(y, Projector(model: model, threads: 1).apply(x, count: 5, steps: 2)[1])

        try ign(["calibrate", "--model", "straight.safetensors", "--data", "data.npy", "--batches", "5", "--batch", "16",
                 "--noisy-fraction", "0.3", "--noise-sigmas", "0.1,0.2", "--half", "--out", "shipped/m.safetensors"])
        let shipped = try SafeTensors.read(dir.appendingPathComponent("shipped/m.safetensors"))
        XCTAssertEqual(shipped.tensors["decoder.1.running_var"]?.dtype, .f16)
        XCTAssertTrue(shipped.metadata["batchnorm"]?.contains("30% with noise σ ∈ {0.1, 0.2}") == true, "\(shipped.metadata)")
        try ign(["calibrate", "--model", "straight.safetensors", "--data", "data.npy", "--noisy-fraction", "0.3",
                 "--noise-sigmas", "0.1,x", "--out", "bad.safetensors"], expect: 2)
            .contains("--noise-sigmas") ? () : XCTFail("the usage error names the option")

        try ign(["sample", "--model", "straight.safetensors", "--count", "6", "--columns", "3", "--steps", "2", "--out", "grid.png"])
        try ign(["interpolate", "--model", "straight.safetensors", "--pairs", "2", "--frames", "4", "--out", "interp.png"])
        let grid = try ImageLoader().load(dir.appendingPathComponent("grid.png"))
        let interp = try ImageLoader().load(dir.appendingPathComponent("interp.png"))
        // 3 columns × (2 groups × 2 steps) rows of 56-pixel cells; 4 frames × 2 pairs.
        XCTAssertGreaterThan(grid.height, grid.width)
        XCTAssertGreaterThan(interp.width, interp.height)
    }

    func testBadInputsGiveClearErrors() throws {
        try ign(["apply", "--model", "missing.safetensors", "--input", "x.npy", "--output", "y.npy"], expect: 1)
            .contains("missing.safetensors") ? () : XCTFail("error should name the model file")
        try Data("garbage".utf8).write(to: dir.appendingPathComponent("bad.safetensors"))
        let message = try ign(["sample", "--model", "bad.safetensors", "--out", "g.png"], expect: 1)
        XCTAssertTrue(message.contains("bad.safetensors") && message.contains("not a safetensors file"), message)
        try ign(["train", "--data", "data.npy", "--arch", "nonsense", "--out", "m.safetensors"], expect: 2)
        try ign(["train", "--arch", "tiny28", "--out", "m.safetensors"], expect: 2)
    }
}
