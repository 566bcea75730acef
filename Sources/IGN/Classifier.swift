import Basics
import Engine
import Foundation

/// A small image classifier that ign trains itself (`ign train-classifier`): the feature space
/// of the Fréchet distance of samples (``features(_:count:)``, its penultimate activations) and
/// the class of each sample (``classes(_:count:)``).
///
/// Layers (PyTorch: `features = nn.Sequential(...)`, `classifier = nn.Conv2d(128, classes, 1)`):
/// conv 4×4 stride 2 → 32, LeakyReLU 0.2, conv 4×4 stride 2 → 64, LeakyReLU, conv 3×3 stride 2
/// → 128, LeakyReLU, conv 4×4 → 128 at 1×1, LeakyReLU (the features), then a 1×1 conv acting as
/// the linear layer to the class scores. 28×28 inputs in [-1, 1].
public final class Classifier {
    /// Length of a feature vector.
    public static let featureCount = 128
    /// Side of the square images it takes.
    public static let imageSize = 28
    public let channels: Int
    public let classes: Int
    /// Everything up to the feature vector.
    public let features: Network
    /// The 1×1 conv from features to class scores.
    public let head: Network
    /// Metadata written to and read from the file (`channels`, `classes`, the training record).
    public var metadata: [String: String]
    /// What reports call it: its file's name without the extension.
    public var name = "classifier"

    public var sampleShape: SampleShape { SampleShape(channels: channels, height: Self.imageSize, width: Self.imageSize) }

    public init(channels: Int, classes: Int) throws {
        self.channels = channels; self.classes = classes
        func conv(_ i: Int, _ o: Int, _ k: Int, _ s: Int, _ p: Int) -> LayerSpec {
            .conv2d(ConvSpec(i, o, kernel: k, stride: s, padding: p))
        }
        let lrelu = LayerSpec.activation(.leakyReLU(slope: 0.2)), f = Self.featureCount
        let specs = [conv(channels, 32, 4, 2, 1), lrelu, conv(32, 64, 4, 2, 1), lrelu, conv(64, f, 3, 2, 1), lrelu, conv(f, f, 4, 1, 0), lrelu]
        features = try Network(input: SampleShape(channels: channels, height: Self.imageSize, width: Self.imageSize),
                               layers: specs.enumerated().map { ("features.\($0.offset)", $0.element) })
        head = try Network(input: SampleShape(channels: f, height: 1, width: 1), layers: [("classifier", conv(f, classes, 1, 1, 0))])
        metadata = ["kind": "classifier", "channels": String(channels), "classes": String(classes)]
    }

    /// PyTorch's default initialisation of a conv layer: weights and biases uniform in ±1/√fan-in.
    public func initialize(seed: UInt64) {
        var rng = RandomSource(seed: seed)
        for network in [features, head] {
            for node in network.nodes {
                guard let conv = node.layer as? Conv2d else { continue }
                let weight: ParameterStore.View = conv.weight, bias: ParameterStore.View = conv.bias
                let bound = 1 / Float(weight.shape.dropFirst().reduce(1, *)).squareRoot()
                for view in [weight, bias] {
                    let p = network.store.parameters + view.offset
                    for k in 0..<view.count { p[k] = (2 * rng.nextUniform() - 1) * bound }
                }
            }
        }
    }

    // MARK: Inference

    /// Feature vectors of `n` NCHW images, `[n][featureCount]`, in eval mode (each image's
    /// features independent of its batch-mates), `batch` images per pass.
    public func features(_ images: [Float], count n: Int, batch: Int = 256, threads: Int = 1) -> [Float] {
        run(images, count: n, batch: batch, threads: threads).features
    }

    /// The predicted class of each of `n` NCHW images.
    public func classes(_ images: [Float], count n: Int, batch: Int = 256, threads: Int = 1) -> [Int] {
        run(images, count: n, batch: batch, threads: threads).classes
    }

    /// Features (sample-major) and predicted classes of `n` NCHW images.
    public func run(_ images: [Float], count n: Int, batch: Int = 256, threads: Int = 1) -> (features: [Float], classes: [Int]) {
        let d = sampleShape.count, f = Self.featureCount
        precondition(images.count == n * d, "images do not hold \(n) samples of \(sampleShape)")
        let trace = Trace(), headTrace = Trace(), workspace = Workspace(threads: threads)
        var out = [Float](repeating: 0, count: n * f), classes: [Int] = []
        var x = [Float](repeating: 0, count: min(batch, n) * d)
        for start in stride(from: 0, to: n, by: batch) {
            let m = min(batch, n - start)
            images.withUnsafeBufferPointer { ChannelMajor.fromSampleMajor($0.baseAddress! + start * d, &x, batch: m, shape: sampleShape) }
            let phi = features.forward(x, batch: m, mode: .eval, trace: trace, workspace: workspace)
            for i in 0..<m { for k in 0..<f { out[(start + i) * f + k] = phi[k * m + i] } }
            let logits = head.forward(phi, batch: m, mode: .eval, trace: headTrace, workspace: workspace)
            classes += SoftmaxCrossEntropy.predictions(logits: logits, count: m, classes: self.classes)
        }
        return (out, classes)
    }

    /// Share of `images` whose predicted class is their label.
    public func accuracy(_ images: [Float], labels: [Int], threads: Int = 1) -> Double {
        let predicted = classes(images, count: labels.count, threads: threads)
        return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(max(labels.count, 1))
    }

    // MARK: Training

    /// Trains on labelled NCHW images with Adam (β 0.9, 0.999) on the mean softmax cross-entropy,
    /// in shuffled minibatches of `batch`; calls `progress(epoch, mean loss of the epoch)` after each epoch.
    public func train(images: [Float], labels: [Int], epochs: Int, batch: Int, learningRate: Double, seed: UInt64,
                      threads: Int, progress: (Int, Double) -> Void = { _, _ in }) {
        let d = sampleShape.count, n = labels.count, f = Self.featureCount
        precondition(images.count == n * d && batch >= 1 && n >= 1)
        var rng = RandomSource(seed: seed)
        var adamFeatures = Adam(learningRate: learningRate, beta1: 0.9), adamHead = adamFeatures
        let trace = Trace(), headTrace = Trace(), workspace = Workspace(threads: threads)
        var order = Array(0..<n), x = [Float](repeating: 0, count: batch * d), sampleMajor = x
        var gradient = [Float](repeating: 0, count: batch * classes)
        for epoch in 1...epochs {
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            var total = 0.0, batches = 0
            for start in stride(from: 0, to: n - batch + 1, by: batch) {
                let picked = order[start..<(start + batch)]
                for (j, index) in picked.enumerated() {
                    for k in 0..<d { sampleMajor[j * d + k] = images[index * d + k] }
                }
                ChannelMajor.fromSampleMajor(sampleMajor, &x, batch: batch, shape: sampleShape)
                let phi = features.forward(x, batch: batch, mode: .train(updateRunningStats: false), trace: trace, workspace: workspace)
                let logits = head.forward(phi, batch: batch, mode: .train(updateRunningStats: false), trace: headTrace, workspace: workspace)
                total += SoftmaxCrossEntropy.loss(logits: logits, labels: picked.map { labels[$0] }, classes: classes, gradient: &gradient)
                batches += 1
                features.store.zeroGradients(); head.store.zeroGradients()
                let phiGradient = head.backward(gradient, trace: headTrace, workspace: workspace, parameterGradients: true, inputGradient: true)!
                let copied = Array(UnsafeBufferPointer(start: phiGradient, count: batch * f))
                features.backward(copied, trace: trace, workspace: workspace, parameterGradients: true, inputGradient: false)
                adamFeatures.update(features.store); adamHead.update(head.store)
            }
            progress(epoch, total / Double(max(batches, 1)))
        }
    }

    // MARK: Files

    /// Writes the classifier as safetensors (F16 with `halfPrecision`), atomically.
    public func save(to url: URL, halfPrecision: Bool = false) throws {
        var tensors: [String: SafeTensors.Entry] = [:]
        for network in [features, head] {
            for v in network.store.layout.parameters {
                let values = Array(UnsafeBufferPointer(start: network.store.parameters + v.offset, count: v.count))
                if halfPrecision {
                    guard let half = SafeTensors.Entry(halves: values, shape: v.shape) else {
                        throw TensorFileError(.unsupported, url.path, "tensor '\(v.name)' has values beyond F16's range (±65504)")
                    }
                    tensors[v.name] = half
                } else {
                    tensors[v.name] = .init(floats: values, shape: v.shape)
                }
            }
        }
        try SafeTensors.write(SafeTensors.File(tensors: tensors, metadata: metadata), to: url)
    }

    /// Loads a classifier file, checking every tensor's name and shape and that all are finite.
    public static func load(_ url: URL) throws -> Classifier {
        let file = try SafeTensors.read(url)
        guard file.metadata["kind"] == "classifier", let channels = file.metadata["channels"].flatMap(Int.init),
              let classes = file.metadata["classes"].flatMap(Int.init), channels == 1 || channels == 3, (2...1000).contains(classes) else {
            throw TensorFileError(.mismatch, url.path, "not an ign classifier (its __metadata__ needs kind 'classifier', channels 1 or 3, classes 2...1000)")
        }
        let classifier = try Classifier(channels: channels, classes: classes)
        let views = [classifier.features, classifier.head].flatMap { network in network.store.layout.parameters.map { (network, $0) } }
        let unexpected = Set(file.tensors.keys).subtracting(views.map(\.1.name)).sorted()
        guard unexpected.isEmpty else { throw TensorFileError(.mismatch, url.path, "unexpected tensors \(unexpected.prefix(4).joined(separator: ", "))") }
        for (network, v) in views {
            guard let entry = file.tensors[v.name] else { throw TensorFileError(.mismatch, url.path, "missing tensor '\(v.name)'") }
            guard entry.shape == v.shape, entry.dtype != .i64 else {
                throw TensorFileError(.mismatch, url.path, "tensor '\(v.name)' has shape \(entry.shape), the classifier needs \(v.shape) (float)")
            }
            let values = entry.floats()
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw TensorFileError(.nonFinite, url.path, "tensor '\(v.name)' holds \(values[bad]) at index \(bad)")
            }
            (network.store.parameters + v.offset).update(from: values, count: v.count)
        }
        classifier.metadata = file.metadata
        classifier.name = url.deletingPathExtension().lastPathComponent
        return classifier
    }

    /// The bundled classifier for `shape` images (`fashion28-classifier` for 1×28×28), or nil.
    public static func bundled(for shape: SampleShape) throws -> Classifier? {
        guard shape == SampleShape(channels: 1, height: imageSize, width: imageSize),
              let url = Bundle.module.url(forResource: "fashion28-classifier", withExtension: "safetensors", subdirectory: "Classifiers")
        else { return nil }
        return try load(url)
    }
}
