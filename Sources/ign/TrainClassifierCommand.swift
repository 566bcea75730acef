import ArgumentParser
import Engine
import Foundation
import IGN

struct TrainClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-classifier",
        abstract: "Train the small image classifier whose features `ign eval` measures samples in (labelled IDX data, e.g. Fashion-MNIST).",
        discussion: "Prints the test accuracy on stdout and writes it into the file's metadata (`test_accuracy`).")

    @Option(help: "Training images (IDX, .gz too, or NCHW .npy in [-1, 1]).") var images: String
    @Option(help: "Training labels (IDX, one byte per image).") var labels: String
    @Option(name: .customLong("test-images"), help: "Held-out images the accuracy is measured on.") var testImages: String
    @Option(name: .customLong("test-labels"), help: "Their labels.") var testLabels: String
    @Option(help: "Passes over the training data.") var epochs = 3
    @Option(help: "Batch size.") var batch = 128
    @Option(help: "Adam learning rate.") var lr = 1e-3
    @Option(help: "Random seed (initialisation, shuffling).") var seed: UInt64 = 0
    @Flag(name: .customLong("half"), help: "Write F16 weights (half the size, for shipping).") var half = false
    @Option(name: .output, help: "Where to write the classifier (safetensors).") var out: String
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        for (option, path) in [("--images", images), ("--labels", labels), ("--test-images", testImages), ("--test-labels", testLabels)] {
            try Check.exists(option, path)
        }
        try Check.count("--epochs", epochs, in: 1...1000)
        try Check.count("--batch", batch, in: Check.batch)
        try Check.positive("--lr", lr, atMost: 1)
    }

    func run() throws {
        let log = makeLogger("ign.train-classifier")
        let (train, trainLabels) = try labelled(images, labels)
        let (test, testLabels) = try labelled(testImages, self.testLabels)
        guard train.shape == test.shape else { throw CommandError("\(testImages): images are \(test.shape), the training images \(train.shape)") }
        guard train.shape.height == Classifier.imageSize, train.shape.width == Classifier.imageSize,
              train.shape.channels == 1 || train.shape.channels == 3 else {
            throw CommandError("\(images): images are \(train.shape); the classifier takes 1 or 3 channels at \(Classifier.imageSize)×\(Classifier.imageSize)")
        }
        guard batch <= train.count else { throw CommandError("--batch \(batch) is more than the \(train.count) training images") }
        let classes = (trainLabels + testLabels).max()! + 1
        guard classes >= 2 else { throw CommandError("\(labels): the labels name a single class") }
        let classifier = try Classifier(channels: train.shape.channels, classes: classes)
        classifier.initialize(seed: seed)
        let start = Date()
        classifier.train(images: train.values, labels: trainLabels, epochs: epochs, batch: batch, learningRate: lr, seed: seed,
                         threads: compute.threads) { epoch, loss in
            log.info("epoch \(epoch)/\(epochs): mean loss \(String(format: "%.4f", loss)), \(Int(Date().timeIntervalSince(start))) s")
        }
        let trainAccuracy = classifier.accuracy(train.values, labels: trainLabels, threads: compute.threads)
        let accuracy = classifier.accuracy(test.values, labels: testLabels, threads: compute.threads)
        classifier.metadata.merge(["epochs": String(epochs), "batch": String(batch), "lr": String(lr), "seed": String(seed),
                                   "train_images": String(train.count), "test_images": String(test.count),
                                   "train_accuracy": String(format: "%.4f", trainAccuracy), "test_accuracy": String(format: "%.4f", accuracy)]) { $1 }
        try classifier.save(to: try outputFile(out), halfPrecision: half)
        print(String(format: "test accuracy %.4f (%d images), training accuracy %.4f", accuracy, test.count, trainAccuracy))
    }

    /// Images and their labels, checked to pair up.
    private func labelled(_ imagePath: String, _ labelPath: String) throws -> (Dataset, [Int]) {
        let images = try Dataset.load(URL(fileURLWithPath: imagePath))
        let (shape, bytes) = try IDX.read(URL(fileURLWithPath: labelPath))
        guard shape.count == 1 else { throw CommandError("\(labelPath): IDX rank \(shape.count), labels need rank 1") }
        guard shape[0] == images.count else {
            throw CommandError("\(labelPath): \(shape[0]) labels for the \(images.count) images of \(imagePath)")
        }
        return (images, bytes.map(Int.init))
    }
}
