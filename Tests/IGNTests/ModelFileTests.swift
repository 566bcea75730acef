import Basics
import Engine
import Foundation
import IGN
import XCTest

final class ModelFileTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try TestData.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testSaveLoadRoundTripKeepsOutputsAndMetadata() throws {
        let model = try IGNModel(architecture: .tiny28, channels: 3)
        model.initialize(seed: 5)
        model.metadata["data"] = "shapes"
        let url = dir.appendingPathComponent("m.safetensors")
        try model.save(to: url)
        let loaded = try IGNModel.load(url)
        XCTAssertEqual(loaded.architecture, .tiny28)
        XCTAssertEqual(loaded.channels, 3)
        XCTAssertEqual(loaded.metadata["data"], "shapes")
        let x = TestData.shapes(count: 4, channels: 3, seed: 1).values
        XCTAssertEqual(Projector(model: loaded, threads: 1).apply(x, count: 4, steps: 2), Projector(model: model, threads: 1).apply(x, count: 4, steps: 2))
    }

    func testHalfPrecisionFilesAreHalfTheSizeAndCloseInOutput() throws {
        let model = try IGNModel(architecture: .dcgan28, channels: 1)
        model.initialize(seed: 5)
        try model.recalibrateBatchNorm(on: TestData.shapes(count: 64, seed: 2), batches: 20, batch: 32, threads: 1)
        let full = dir.appendingPathComponent("full.safetensors"), half = dir.appendingPathComponent("half.safetensors")
        try model.save(to: full)
        try model.save(to: half, halfPrecision: true)
        let fullSize = try Data(contentsOf: full).count, halfSize = try Data(contentsOf: half).count
        XCTAssertEqual(Double(halfSize) / Double(fullSize), 0.5, accuracy: 0.01)

        let file = try SafeTensors.read(half)
        XCTAssertTrue(file.tensors.values.allSatisfy { $0.dtype == .f16 || $0.dtype == .i64 })
        let stored = model.stateTensors()
        for (name, entry) in file.tensors where entry.dtype == .f16 {
            for (a, b) in zip(entry.floats(), stored[name]!.floats()) {
                XCTAssertEqual(a, b, accuracy: abs(b) * 0x1p-11 + 0x1p-24, name)  // round to nearest: half an F16 ulp
            }
        }
        let loaded = try IGNModel.load(half)
        XCTAssertEqual(loaded.network.store.counters, model.network.store.counters)
        let x = TestData.shapes(count: 8, seed: 1).values
        let a = Projector(model: model, threads: 1).apply(x, count: 8, steps: 1)[0], b = Projector(model: loaded, threads: 1).apply(x, count: 8, steps: 1)[0]
        let worst = zip(a, b).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(worst, 0, "F16 rounding is visible")
        XCTAssertLessThan(worst, 1e-2, "but small against the [-1, 1] output range")

        let v = model.network.store.layout.buffers.first { $0.name.hasSuffix("running_var") }!
        model.network.store.buffers[v.offset] = 1e5
        XCTAssertThrowsError(try model.save(to: dir.appendingPathComponent("big.safetensors"), halfPrecision: true)) { error in
            XCTAssertTrue("\(error)".contains("big.safetensors") && "\(error)".contains(v.name), "\(error)")
        }
    }

    func testInitialisationStatistics() throws {
        let model = try IGNModel(architecture: .dcgan28, channels: 1)
        model.initialize(seed: 1)
        let store = model.network.store
        func values(_ name: String) -> [Float] {
            let v = store.parameter(name)!
            return Array(UnsafeBufferPointer(start: store.parameters + v.offset, count: v.count))
        }
        let w = values("encoder.8.weight")
        let mean = w.reduce(0, +) / Float(w.count)
        let std = (w.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(w.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 1e-3); XCTAssertEqual(std, 0.02, accuracy: 1e-3)
        let gamma = values("decoder.1.weight")
        XCTAssertEqual(gamma.reduce(0, +) / Float(gamma.count), 1, accuracy: 0.01)
        XCTAssertTrue(values("encoder.0.bias").allSatisfy { $0 == 0 })
        XCTAssertTrue(values("decoder.1.bias").allSatisfy { $0 == 0 })
        let rv = store.buffer("decoder.1.running_var")!
        XCTAssertTrue((0..<rv.count).allSatisfy { store.buffers[rv.offset + $0] == 1 })
    }

    /// The fully-convolutional architectures start with He's N(0, gain²/fan-in), and keep the
    /// scale of their activations through the stack without normalisation.
    func testHeInitialisationOfTheFullyConvolutionalArchitectures() throws {
        let model = try IGNModel(architecture: .fcn16, channels: 3)
        model.initialize(seed: 2)
        let store = model.network.store
        for (name, fanIn) in [("encoder.0.weight", 3 * 9), ("encoder.6.weight", 64 * 9), ("decoder.0.weight", 16)] {
            let v = store.parameter(name)!
            let w = Array(UnsafeBufferPointer(start: store.parameters + v.offset, count: v.count))
            let std = (w.reduce(0) { $0 + $1 * $1 } / Float(w.count)).squareRoot()
            XCTAssertEqual(std, (2 / 1.04 / Float(fanIn)).squareRoot(), accuracy: 0.08 * std, name)
        }
        var rng = RandomSource(seed: 3)
        let x = rng.normals(2 * model.sampleShape.count).map { max(-1, min(1, $0 * 0.5)) }
        let out = Projector(model: model, threads: 1).apply(x, count: 2, steps: 1)[0]
        let rms = (out.reduce(0) { $0 + $1 * $1 } / Float(out.count)).squareRoot()
        XCTAssertGreaterThan(rms, 0.05, "activations vanish through the stack")
        XCTAssertLessThan(rms, 0.99, "activations saturate the output")
    }

    func testRejectsForeignTruncatedAndMismatchedFiles() throws {
        let model = try IGNModel(architecture: .tiny28, channels: 1)
        model.initialize(seed: 1)
        let good = dir.appendingPathComponent("good.safetensors")
        try model.save(to: good)
        let bytes = try Data(contentsOf: good)

        func expectError(_ name: String, _ data: Data, containing text: String) throws {
            let url = dir.appendingPathComponent(name)
            try data.write(to: url)
            XCTAssertThrowsError(try IGNModel.load(url), name) { error in
                XCTAssertTrue("\(error)".contains(url.path), "\(name): the error names the file: \(error)")
                XCTAssertTrue("\(error)".contains(text), "\(name): \(error)")
            }
        }
        try expectError("truncated.safetensors", bytes.prefix(bytes.count - 100), containing: "truncated")
        try expectError("text.safetensors", Data("not a model at all".utf8), containing: "not a safetensors file")

        var foreign = SafeTensors.File(tensors: ["w": .init(floats: [1, 2], shape: [2])])
        try expectError("foreign.safetensors", try SafeTensors.encode(foreign), containing: "not an ign model")
        foreign.metadata = ["arch": "tiny28", "channels": "1"]
        try expectError("wrongnames.safetensors", try SafeTensors.encode(foreign), containing: "missing")

        var tensors = model.stateTensors()
        tensors["decoder.9.weight"] = .init(floats: [Float](repeating: 0, count: 4 * 3 * 16), shape: [4, 3, 4, 4])
        try expectError("wrongshape.safetensors", try SafeTensors.encode(.init(tensors: tensors, metadata: model.metadata)),
                        containing: "decoder.9.weight")
        try expectError("wrongarch.safetensors", try SafeTensors.encode(.init(tensors: model.stateTensors(), metadata: ["arch": "dcgan28", "channels": "1"])),
                        containing: "dcgan28")
    }
    func testNonFiniteWeightsAndStatisticsAreRefusedNamingTheFileAndTensor() throws {
        let model = try IGNModel(architecture: .tiny28, channels: 1)
        model.initialize(seed: 1)
        let layout = model.network.store.layout
        let statistic = try XCTUnwrap(layout.buffers.first { $0.name.hasSuffix("running_var") }).name
        for (name, value) in [(layout.parameters[0].name, Float.nan), (statistic, Float.infinity)] {
            var tensors = model.stateTensors()
            var values = tensors[name]!.floats()
            values[values.count / 2] = value
            tensors[name] = .init(floats: values, shape: tensors[name]!.shape)
            let url = dir.appendingPathComponent("bad-\(name).safetensors")
            try SafeTensors.write(.init(tensors: tensors, metadata: model.metadata), to: url)
            for load in [{ try IGNModel.load(url) }, { try BundledModels.load(url.path) }] {
                XCTAssertThrowsError(try load(), name) { error in
                    XCTAssertEqual((error as? TensorFileError)?.code, .nonFinite, "\(error)")
                    XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains("tensor '\(name)' holds \(value) at index \(values.count / 2)"), "\(error)")
                }
            }
        }
    }
}
