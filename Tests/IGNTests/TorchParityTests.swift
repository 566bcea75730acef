import Engine
import Foundation
import IGN
import XCTest

/// Agreement with PyTorch on fixtures written by `scripts/torch_reference.py fixtures`:
/// the same weights give the same outputs, gradients and Adam steps, and files move both ways.
final class TorchParityTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    func fixture(_ name: String) -> URL { Self.fixtures.appendingPathComponent(name) }

    /// Biases of convolutions that feed a BatchNorm: their true gradient is exactly 0 (the norm
    /// subtracts any constant), so both engines hold only rounding noise there, which Adam then
    /// scales up to steps of about lr in either direction. They shift the following BatchNorm's
    /// running mean by as much, and change no output. These are compared loosely.
    func noiseOnlyTensors(_ arch: Architecture) -> Set<String> {
        let layers = arch.layers(channels: 1)
        var names = Set<String>()
        for (i, layer) in layers.enumerated().dropLast() {
            if case .batchNorm2d = layers[i + 1].spec {
                names.insert("\(layer.name).bias")
                names.insert("\(layers[i + 1].name).running_mean")
            }
        }
        return names
    }

    func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    func testForwardMatchesTorchInTrainAndEvalMode() throws {
        for c in [1, 3] {
            let model = try IGNModel.load(fixture("tiny28_c\(c)_init.safetensors"))
            XCTAssertEqual(model.channels, c)
            let (shape, x) = try NPY.read(fixture("tiny28_c\(c)_x.npy"))
            let projector = Projector(model: model, threads: 1)
            let train = projector.apply(x, count: shape[0], steps: 1, trainMode: true)[0]
            let eval = projector.apply(x, count: shape[0], steps: 1)[0]
            XCTAssertLessThan(maxAbsDiff(train, try NPY.read(fixture("tiny28_c\(c)_fx_train.npy")).values), 2e-6, "C=\(c) train mode")
            XCTAssertGreaterThan(maxAbsDiff(train, eval), 1e-3, "train and eval mode must differ for the check to mean anything")
            // At initialisation eval-mode outputs are ~1e-8 (running stats 0/1 with N(0, 0.02) weights):
            // compare eval mode on torch's trained weights, whose running statistics are real.
            let trained = try IGNModel.load(fixture("tiny28_c\(c)_after3.safetensors"))
            let evalAfter = Projector(model: trained, threads: 1).apply(x, count: shape[0], steps: 1)[0]
            let expected = try NPY.read(fixture("tiny28_c\(c)_fx_eval_after3.npy")).values
            let scale = expected.map(abs).max()!
            XCTAssertGreaterThan(scale, 1e-3)
            XCTAssertLessThan(maxAbsDiff(evalAfter, expected) / scale, 1e-4, "C=\(c) eval mode")
        }
    }

    func testFirstStepGradientMatchesAutograd() throws {
        let model = try IGNModel.load(fixture("tiny28_c1_init.safetensors"))
        let x = try NPY.read(fixture("tiny28_c1_x.npy")).values
        let z = Array(try NPY.read(fixture("tiny28_c1_z.npy")).values.prefix(x.count))
        _ = Objective(model: model, threads: 1).lossAndGradient(x: x, z: z, batch: 4)  // C = 1: NCHW is channel-major
        let torchGrads = try SafeTensors.read(fixture("tiny28_c1_grads.safetensors"))
        let store = model.network.store
        let noiseOnly = noiseOnlyTensors(.tiny28)
        let globalMax = (0..<store.count).reduce(Float(0)) { max($0, abs(store.gradients[$1])) }
        for view in store.layout.parameters {
            let expected = try XCTUnwrap(torchGrads.tensors[view.name], view.name).floats()
            let ours = Array(UnsafeBufferPointer(start: store.gradients + view.offset, count: view.count))
            if noiseOnly.contains(view.name) {
                XCTAssertLessThan(ours.map(abs).max()!, 1e-5 * globalMax, "\(view.name) should be ~0")
                XCTAssertLessThan(expected.map(abs).max()!, 1e-5 * globalMax, "\(view.name) should be ~0 in torch too")
                continue
            }
            let scale = expected.map(abs).max()!
            XCTAssertGreaterThan(scale, 1e-5, view.name)
            XCTAssertLessThan(maxAbsDiff(ours, expected) / scale, 1e-4, view.name)
        }
    }

    /// Three IGN steps through the trainer itself (`--init --noise-file --steps 3 --no-shuffle`).
    func testThreeTrainingStepsMatchTorch() throws {
        for (c, distance, tag) in [(1, Distance.l1, ""), (3, .l1, ""), (1, .l2, "_l2")] {
            var options = TrainingOptions(data: fixture("tiny28_c\(c)_x.npy").path, arch: "tiny28", channels: c)
            options.batch = 4; options.steps = 3; options.learningRate = 1e-3; options.shuffle = false
            options.objective.distance = distance
            options.noiseFile = fixture("tiny28_c\(c)_z.npy").path
            let model = try IGNModel.load(fixture("tiny28_c\(c)_init.safetensors"))
            let data = try Dataset.load(URL(fileURLWithPath: options.data))
            let trainer = try Trainer(options: options, model: model, dataset: data, noise: .gaussian(model.sampleShape), threads: 1)
            var losses: [Losses] = []
            let checkpoint = FileManager.default.temporaryDirectory.appendingPathComponent("parity-\(UUID().uuidString).safetensors")
            defer { try? FileManager.default.removeItem(at: checkpoint) }
            try trainer.run(checkpoint: checkpoint, progress: { losses.append($0.lastLosses!) })

            let expectedLosses = try JSONDecoder().decode([[String: Double]].self,
                                                          from: Data(contentsOf: fixture("tiny28_c\(c)\(tag)_losses.json")))
            XCTAssertEqual(losses.count, 3)
            for (ours, theirs) in zip(losses, expectedLosses) {
                XCTAssertEqual(Double(ours.rec), theirs["rec"]!, accuracy: 1e-5 * abs(theirs["rec"]!))
                XCTAssertEqual(Double(ours.idem), theirs["idem"]!, accuracy: 1e-4 * abs(theirs["idem"]!))
                XCTAssertEqual(Double(ours.tight), theirs["tight"]!, accuracy: 1e-4 * abs(theirs["tight"]!))
                XCTAssertEqual(Double(ours.total), theirs["total"]!, accuracy: 1e-5 * abs(theirs["total"]!))
            }

            let after = try SafeTensors.read(fixture("tiny28_c\(c)\(tag)_after3.safetensors"))
            let ours = model.stateTensors()
            XCTAssertEqual(Set(ours.keys), Set(after.tensors.keys))
            var far = 0, total = 0
            let noiseOnly = noiseOnlyTensors(.tiny28)
            for (name, entry) in after.tensors {
                if entry.dtype == .i64 {
                    XCTAssertEqual(ours[name]?.int64(), entry.int64(), name)
                    continue
                }
                let diffs = zip(ours[name]!.floats(), entry.floats()).map { abs($0 - $1) }
                if noiseOnly.contains(name) {
                    XCTAssertLessThanOrEqual(diffs.max()!, 3 * 2e-3, "\(name): three noise-driven steps of about lr")
                    continue
                }
                far += diffs.filter { $0 > 1e-5 }.count
                total += diffs.count
            }
            XCTAssertGreaterThan(total, 11_000)
            XCTAssertEqual(far, 0, "C=\(c) \(distance): \(far) of \(total) values differ from torch's by more than 1e-5")
        }
    }

    func testStateDictNamesAndShapesMatchTorch() throws {
        let headers = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture("headers.json"))) as! [String: [[Any]]]
        for arch in [Architecture.dcgan28, .dcgan32, .dcgan64, .fcn8, .fcn16] {
            for c in [1, 3] {
                let expected = try XCTUnwrap(headers["\(arch.name)_c\(c)"])
                let model = try IGNModel(architecture: arch, channels: c)
                let ours = model.stateTensors()
                XCTAssertEqual(ours.count, expected.count, "\(arch.name) C=\(c)")
                for entry in expected {
                    let name = entry[0] as! String, shape = entry[1] as! [Int]
                    XCTAssertEqual(ours[name]?.shape, shape, "\(arch.name) C=\(c) \(name)")
                }
            }
        }
    }

    // MARK: The fully-convolutional family (fcn-tiny: skip connections, 3×3 and 1×1 convs, upsampling)

    /// NCHW → channel-major, through the network at `shape`, back to NCHW.
    func forward(_ model: IGNModel, _ x: [Float], count n: Int, shape: SampleShape) -> [Float] {
        var cm = x, out = x
        ChannelMajor.fromSampleMajor(x, &cm, batch: n, shape: shape)
        let trace = Trace(), workspace = Workspace(threads: 1)
        let y = model.network.forward(cm, batch: n, shape: shape, mode: .eval, trace: trace, workspace: workspace)
        let result = Array(UnsafeBufferPointer(start: y, count: n * shape.count))
        ChannelMajor.toSampleMajor(result, &out, batch: n, shape: shape)
        return out
    }

    func testFullyConvolutionalForwardMatchesTorchAtTwoSizes() throws {
        let model = try IGNModel.load(fixture("fcn-tiny_c3_init.safetensors"))
        for (input, output) in [("fcn-tiny_c3_x.npy", "fcn-tiny_c3_fx.npy"), ("fcn-tiny_c3_x_24x32.npy", "fcn-tiny_c3_fx_24x32.npy")] {
            let (shape, x) = try NPY.read(fixture(input))
            let sample = SampleShape(channels: shape[1], height: shape[2], width: shape[3])
            let expected = try NPY.read(fixture(output)).values
            let ours = forward(model, x, count: shape[0], shape: sample)
            let scale = expected.map(abs).max()!
            XCTAssertGreaterThan(scale, 1e-4, input)
            XCTAssertLessThan(maxAbsDiff(ours, expected) / scale, 1e-5, "\(input): \(sample)")
        }
    }

    func testFullyConvolutionalGradientAndThreeStepsMatchTorch() throws {
        let model = try IGNModel.load(fixture("fcn-tiny_c3_init.safetensors"))
        var x = try NPY.read(fixture("fcn-tiny_c3_x.npy")).values, z = Array(try NPY.read(fixture("fcn-tiny_c3_z.npy")).values.prefix(x.count))
        var xc = x, zc = z
        ChannelMajor.fromSampleMajor(x, &xc, batch: 4, shape: model.sampleShape)
        ChannelMajor.fromSampleMajor(z, &zc, batch: 4, shape: model.sampleShape)
        _ = Objective(model: model, threads: 1).lossAndGradient(x: xc, z: zc, batch: 4)
        let torchGrads = try SafeTensors.read(fixture("fcn-tiny_c3_grads.safetensors"))
        let store = model.network.store
        for view in store.layout.parameters {
            let expected = try XCTUnwrap(torchGrads.tensors[view.name], view.name).floats()
            let ours = Array(UnsafeBufferPointer(start: store.gradients + view.offset, count: view.count))
            let scale = expected.map(abs).max()!
            XCTAssertGreaterThan(scale, 1e-6, view.name)
            XCTAssertLessThan(maxAbsDiff(ours, expected) / scale, 1e-4, view.name)
        }
        x = []; z = []

        var options = TrainingOptions(data: fixture("fcn-tiny_c3_x.npy").path, arch: "fcn-tiny", channels: 3)
        options.batch = 4; options.steps = 3; options.learningRate = 1e-3; options.shuffle = false
        options.noiseFile = fixture("fcn-tiny_c3_z.npy").path
        let fresh = try IGNModel.load(fixture("fcn-tiny_c3_init.safetensors"))
        let data = try Dataset.load(URL(fileURLWithPath: options.data))
        let trainer = try Trainer(options: options, model: fresh, dataset: data, noise: .gaussian(fresh.sampleShape), threads: 2)
        var losses: [Losses] = []
        let checkpoint = FileManager.default.temporaryDirectory.appendingPathComponent("parity-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: checkpoint) }
        try trainer.run(checkpoint: checkpoint, progress: { losses.append($0.lastLosses!) })
        let expectedLosses = try JSONDecoder().decode([[String: Double]].self, from: Data(contentsOf: fixture("fcn-tiny_c3_losses.json")))
        XCTAssertEqual(losses.count, 3)
        for (ours, theirs) in zip(losses, expectedLosses) {
            XCTAssertEqual(Double(ours.rec), theirs["rec"]!, accuracy: 1e-5 * abs(theirs["rec"]!))
            XCTAssertEqual(Double(ours.idem), theirs["idem"]!, accuracy: 1e-4 * abs(theirs["idem"]!))
            XCTAssertEqual(Double(ours.total), theirs["total"]!, accuracy: 1e-5 * abs(theirs["total"]!))
        }
        let after = try SafeTensors.read(fixture("fcn-tiny_c3_after3.safetensors")), ours = fresh.stateTensors()
        XCTAssertEqual(Set(ours.keys), Set(after.tensors.keys))
        var far = 0, total = 0
        for (name, entry) in after.tensors {
            let diffs = zip(ours[name]!.floats(), entry.floats()).map { abs($0 - $1) }
            far += diffs.filter { $0 > 1e-5 }.count
            total += diffs.count
        }
        XCTAssertGreaterThan(total, 1_000)
        XCTAssertEqual(far, 0, "fcn-tiny: \(far) of \(total) values differ from torch's by more than 1e-5")
    }
}
