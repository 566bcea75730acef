import Engine
import Foundation
import IGN
import Imaging
import Pipeline
import XCTest

/// `ign sample` / `ign interpolate` as arrays, the two sets of BatchNorm statistics from the
/// command line, and `ign train-classifier`.
extension CLITests {
    /// A tiny28 model whose BatchNorm statistics matter (conv weights ×15), saved as `model.safetensors`.
    func writeSensitiveModel() throws {
        let model = try IGNModel(architecture: .tiny28, channels: 1)
        model.initialize(seed: 1)
        let store = model.network.store
        for v in store.layout.parameters where v.shape.count == 4 {
            for k in 0..<v.count { store.parameters[v.offset + k] *= 15 }
        }
        try writeData()
        try model.recalibrateBatchNorm(on: try Dataset.load(url("data.npy")), batches: 5, batch: 16, threads: 1)
        try model.save(to: url("model.safetensors"))
    }

    func testSampleArrayIsEveryStepInRangeAndThePureFunctionOfItsArguments() throws {
        try writeSensitiveModel()
        let sample = ["sample", "--model", "model.safetensors", "--count", "7", "--steps", "3", "--seed", "4", "--threads", "1"]
        let stderr = try ign(sample + ["--out", "a.npy"])
        XCTAssertEqual(stderr.components(separatedBy: "no generation statistics").count - 1, 1, "the fallback is said once: \(stderr)")
        let (shape, values) = try NPY.read(url("a.npy"))
        XCTAssertEqual(shape, [3, 7, 1, 28, 28])
        XCTAssertTrue(values.allSatisfy { (-1...1).contains($0) })
        let model = try IGNModel.load(url("model.safetensors"))
        let z = try model.drawNoise(count: 7, seed: 4)
        XCTAssertEqual(values, Projector(model: model, threads: 1).apply(z, count: 7, steps: 3).flatMap { $0 }, "row s is f^(s+1)(z)")
        try ign(sample + ["--out", "b.npy", "--batch", "2", "--threads", "2"])
        XCTAssertEqual(try Data(contentsOf: url("a.npy")), try Data(contentsOf: url("b.npy")), "identical bytes, whatever the batch or threads")

        try ign(["interpolate", "--model", "model.safetensors", "--pairs", "2", "--frames", "3", "--steps", "2", "--out", "i.npy"])
        let interpolated = try NPY.read(url("i.npy"))
        XCTAssertEqual(interpolated.shape, [2, 6, 1, 28, 28])
        XCTAssertTrue(interpolated.values.allSatisfy { (-1...1).contains($0) })
        try ign(sample + ["--out", "grid.webm"], expect: 2)
    }

    func testCalibrateForGenerationAndStatisticsSwitchOutputs() throws {
        try writeSensitiveModel()
        try ign(["calibrate", "--model", "model.safetensors", "--for", "generation", "--chain", "2", "--batches", "5", "--batch", "16",
                 "--threads", "1", "--out", "both.safetensors"])
        let file = try SafeTensors.read(url("both.safetensors")), plain = try SafeTensors.read(url("model.safetensors"))
        for (name, tensor) in plain.tensors { XCTAssertEqual(file.tensors[name]?.data, tensor.data, "the projection set and weights stay: \(name)") }
        XCTAssertEqual(file.tensors.count - plain.tensors.count, 2 * plain.tensors.keys.filter { $0.hasSuffix("running_mean") || $0.hasSuffix("running_var") }.count)
        XCTAssertNotNil(file.metadata["generation_batchnorm"])

        let model = try IGNModel.load(url("both.safetensors"))
        let z = try model.drawNoise(count: 5, seed: 1)
        var outputs: [String: [Float]] = [:]
        for set in StatisticsSet.allCases {
            let stderr = try ign(["sample", "--model", "both.safetensors", "--count", "5", "--steps", "1", "--statistics", set.rawValue,
                                  "--threads", "1", "--out", "\(set).npy"])
            XCTAssertFalse(stderr.contains("no generation statistics"))
            outputs[set.rawValue] = try NPY.read(url("\(set).npy")).values
            XCTAssertEqual(outputs[set.rawValue], Projector(model: model, threads: 1, statistics: set).apply(z, count: 5, steps: 1)[0], set.rawValue)
        }
        XCTAssertEqual(Set(outputs.values.map { $0 }).count, 3, "three sets, three outputs")
        try ign(["sample", "--model", "both.safetensors", "--count", "5", "--steps", "1", "--threads", "1", "--out", "default.npy"])
        XCTAssertEqual(try NPY.read(url("default.npy")).values, outputs["generation"], "sample uses the generation set")

        try NPY.write(Array(z), shape: [5, 1, 28, 28], to: url("z.npy"))
        try ign(["apply", "--model", "both.safetensors", "--input", "z.npy", "--output", "p.npy", "--threads", "1"])
        XCTAssertEqual(try NPY.read(url("p.npy")).values, outputs["projection"], "apply uses the projection set")
        try ign(["apply", "--model", "both.safetensors", "--input", "z.npy", "--output", "g.npy", "--statistics", "generation", "--threads", "1"])
        XCTAssertEqual(try NPY.read(url("g.npy")).values, outputs["generation"])

        try ign(["calibrate", "--model", "model.safetensors", "--for", "generation", "--data", "data.npy", "--out", "x.safetensors"], expect: 2)
        try ign(["calibrate", "--model", "model.safetensors", "--out", "x.safetensors"], expect: 2)
        try ign(["sample", "--model", "both.safetensors", "--statistics", "running", "--out", "x.npy"], expect: 2)
    }

    /// `ign run --statistics` (and the file's `statistics:`) picks the set f runs with; it is a
    /// setting of the results, so a folder made with one set refuses a resume with the other.
    func testRunStatisticsSwitchOutputs() throws {
        try writeSensitiveModel()
        try ign(["calibrate", "--model", "model.safetensors", "--for", "generation", "--batches", "5", "--batch", "16",
                 "--threads", "1", "--out", "both.safetensors"])
        try FileManager.default.createDirectory(at: url("in"), withIntermediateDirectories: true)
        for i in 0..<3 {
            let pixels = (0..<784).map { k in Float(sin(Double(k * (i + 1)) * 0.05)) }
            try PlanarImage(width: 28, height: 28, channels: 1, pixels: pixels).write(to: url("in/\(i).png"))
        }
        try "input: in\noutput: unused\nmodel: both.safetensors\nfit: resize\nmetrics: [drift]\n".write(to: url("job.yaml"), atomically: true, encoding: .utf8)
        func drifts(_ folder: String) throws -> [Double] {
            try String(contentsOf: url("\(folder)/metrics.jsonl"), encoding: .utf8).split(separator: "\n").map {
                try XCTUnwrap(ImageRecord(jsonLine: $0)?.drift)
            }
        }
        let run = ["run", "job.yaml", "--threads", "1", "--quiet"]
        try ign(run + ["--output", "projection"])
        try ign(run + ["--output", "generation", "--statistics", "generation"])
        let model = try IGNModel.load(url("both.safetensors"))
        let x = try ImageLoader().load(url("in/0.png")).pixels
        let expected = [StatisticsSet.projection, .generation].map { set -> Float in
            let y = Projector(model: model, threads: 1, statistics: set).apply(x, count: 1, steps: 2)
            return sqrt(zip(y[1], y[0]).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Float(x.count))
        }
        XCTAssertEqual(try drifts("projection")[0], Double(expected[0]), accuracy: 1e-5, "run uses the projection set by default")
        XCTAssertEqual(try drifts("generation")[0], Double(expected[1]), accuracy: 1e-5, "--statistics generation")
        XCTAssertNotEqual(expected[0], expected[1], accuracy: 1e-3)
        let refused = try ign(run + ["--output", "projection", "--statistics", "generation"], expect: 2)
        XCTAssertTrue(refused.contains("statistics"), refused)
        try ign(run + ["--output", "batch", "--statistics", "batch"], expect: 2)
        let note = try ign(["run", "job.yaml", "--model", "model.safetensors", "--output", "fallback", "--statistics", "generation", "--quiet"])
        XCTAssertEqual(note.components(separatedBy: "no generation statistics").count - 1, 1, note)
    }

    /// A few epochs on two separable classes reach a high accuracy, recorded in the file.
    func testTrainClassifier() throws {
        var images = [Float](repeating: -1, count: 40 * 784), labels = [UInt8](repeating: 0, count: 40)
        for i in 0..<40 {
            labels[i] = UInt8(i % 2)
            let x0 = i % 2 == 0 ? 3 + i % 5 : 18 + i % 5
            for y in 4..<24 { for x in x0..<(x0 + 4) { images[i * 784 + y * 28 + x] = 1 } }
        }
        try NPY.write(images, shape: [40, 1, 28, 28], to: url("images.npy"))
        var idx = Data([0, 0, 8, 1, 0, 0, 0, 40])
        idx.append(contentsOf: labels)
        try idx.write(to: url("labels.idx"))
        try ign(["train-classifier", "--images", "images.npy", "--labels", "labels.idx", "--test-images", "images.npy",
                 "--test-labels", "labels.idx", "--epochs", "15", "--batch", "8", "--threads", "1", "--out", "c.safetensors"])
        let classifier = try Classifier.load(url("c.safetensors"))
        XCTAssertEqual(classifier.classes, 2)
        XCTAssertEqual(classifier.metadata["test_accuracy"], "1.0000")
        XCTAssertEqual(classifier.accuracy(images, labels: labels.map(Int.init)), 1)
        try ign(["train-classifier", "--images", "images.npy", "--labels", "images.npy", "--test-images", "images.npy",
                 "--test-labels", "labels.idx", "--out", "c.safetensors"], expect: 1)
    }

    /// `ign eval` of a colour model measures samples in image statistics (no classes, anchors
    /// in order: the train split nearer than noise); `--features classifier` is refused for it.
    func testEvalSampleQualityOfAColourModelInImageStatistics() throws {
        let model = try IGNModel(architecture: .tiny28, channels: 3)
        model.initialize(seed: 2)
        try model.save(to: url("colour.safetensors"))
        var values = [Float](repeating: -1, count: 48 * 3 * 784)
        for i in 0..<48 {
            for c in 0..<3 where (i + c) % 3 != 0 {
                for y in 4..<24 { for x in (2 + i % 20)..<(6 + i % 20) { values[(i * 3 + c) * 784 + y * 28 + x] = Float(c) / 2 } }
            }
        }
        try NPY.write(Array(values[..<(24 * 3 * 784)]), shape: [24, 3, 28, 28], to: url("test.npy"))
        try NPY.write(Array(values[(24 * 3 * 784)...]), shape: [24, 3, 28, 28], to: url("train.npy"))
        try ign(["eval", "--model", "colour.safetensors", "--data", "test.npy", "--train", "train.npy", "--samples", "24",
                 "--limit", "4", "--threads", "1", "--json", "report.json"])
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: url("report.json"))) as! [String: Any]
        let quality = try XCTUnwrap(report["sampleQuality"] as? [String: Any])
        XCTAssertTrue((quality["features"] as? String)?.hasPrefix("image statistics") == true, "\(quality)")
        XCTAssertEqual((quality["testClassShares"] as? [Double])?.count, 0)
        let rows = try XCTUnwrap(quality["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["statistics"] as? String }, ["projection", "batch"])
        for row in rows {
            XCTAssertEqual((row["frechet"] as? [Double])?.count, 3)
            XCTAssertEqual((row["classShares"] as? [[Double]])?.count, 0)
        }
        let anchors = try XCTUnwrap(quality["anchors"] as? [String: Double])
        XCTAssertLessThan(try XCTUnwrap(anchors["trainVsTest"]), try XCTUnwrap(anchors["noise"]))
        let refused = try ign(["eval", "--model", "colour.safetensors", "--data", "test.npy", "--samples", "24", "--features", "classifier"], expect: 1)
        XCTAssertTrue(refused.contains("no bundled classifier for 3×28×28"), refused)
    }

    /// `ign average` writes the element-wise mean of the weights and running statistics, without
    /// generation sets; models of different shapes are refused, as is a single model.
    func testAverageIsTheMeanOfTheWeights() throws {
        var models: [IGNModel] = []
        for seed in [1, 2] as [UInt64] {
            let model = try IGNModel(architecture: .tiny28, channels: 1)
            model.initialize(seed: seed)
            let store = model.network.store
            for k in 0..<store.bufferCount { store.buffers[k] = Float(seed) * Float(k % 7) }
            model.generationStatistics = [[Float](repeating: 1, count: store.bufferCount)]
            try model.save(to: url("m\(seed).safetensors"))
            models.append(model)
        }
        try ign(["average", "m1.safetensors", "m2.safetensors", "--out", "mean.safetensors"])
        let mean = try IGNModel.load(url("mean.safetensors")), store = mean.network.store
        let a = models[0].network.store, b = models[1].network.store
        for k in 0..<store.count { XCTAssertEqual(store.parameters[k], (a.parameters[k] + b.parameters[k]) / 2, accuracy: 1e-7) }
        for k in 0..<store.bufferCount { XCTAssertEqual(store.buffers[k], 1.5 * Float(k % 7), accuracy: 1e-6) }
        XCTAssertTrue(mean.generationStatistics.isEmpty)
        XCTAssertEqual(mean.metadata["averaged"], "mean of the weights of m1.safetensors, m2.safetensors")
        let colour = try IGNModel(architecture: .tiny28, channels: 3)
        colour.initialize(seed: 3)
        try colour.save(to: url("c.safetensors"))
        let refused = try ign(["average", "m1.safetensors", "c.safetensors", "--out", "x.safetensors"], expect: 1)
        XCTAssertTrue(refused.contains("c.safetensors is tiny28 with 3 channels"), refused)
        try ign(["average", "m1.safetensors", "--out", "x.safetensors"], expect: 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.safetensors")))
    }
}
