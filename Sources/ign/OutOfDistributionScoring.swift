import ArgumentParser
import Basics
import Engine
import Evaluation
import Foundation
import IGN
import Imaging
import Pipeline

/// The scored images of a folder (every file libvips reads, its centre square resized to the
/// model's size) or of an NCHW `.npy`, and the files that could not be read. Folders are read
/// and scored 256 files at a time, so only the scores and codes stay in memory.
struct ScoredSet {
    /// Folder-relative paths (or `FILE.npy[i]`), one per image.
    var names: [String] = []
    var images: [ScoredImage] = []
    /// Files that were skipped: path and why.
    var failures: [(path: String, message: String)] = []
    /// The folder the names are relative to (nil for an array).
    var root: URL?

    var count: Int { names.count }

    static let chunk = 256

    init(_ path: String, scorer: OutOfDistributionScorer) throws {
        let shape = scorer.projector.model.sampleShape
        if path.lowercased().hasSuffix(".npy") {
            let data = try Dataset.load(URL(fileURLWithPath: path))
            guard data.shape == shape else {
                throw CommandError("\(path): holds samples of \(data.shape), the model takes \(shape)")
            }
            names = (0..<data.count).map { "\((path as NSString).lastPathComponent)[\($0)]" }
            for start in stride(from: 0, to: data.count, by: ScoredSet.chunk) {
                let n = min(ScoredSet.chunk, data.count - start)
                images += scorer.score(Array(data.values[(start * shape.count)..<((start + n) * shape.count)]), count: n)
            }
            return
        }
        let root = URL(fileURLWithPath: path)
        self.root = root
        let found = try Discovery(root: root).run()
        for problem in found.problems { failures.append((problem.path, problem.message)) }
        let loader = ImageLoader()
        for start in stride(from: 0, to: found.files.count, by: ScoredSet.chunk) {
            var samples: [Float] = [], loaded = 0
            for file in found.files[start..<min(found.files.count, start + ScoredSet.chunk)] {
                do {
                    let image = try loader.load(root.appendingPathComponent(file), channels: shape.channels)
                    let side = min(image.width, image.height)
                    let square = try image.cropped(x: (image.width - side) / 2, y: (image.height - side) / 2, width: side, height: side)
                    samples += try square.resized(width: shape.width, height: shape.height).pixels
                    names.append(file)
                    loaded += 1
                } catch let error as ImagingError {
                    failures.append((file, error.message))
                }
            }
            if loaded > 0 { images += scorer.score(samples, count: loaded) }
        }
    }
}

/// A fitted threshold: flag inputs whose `score` is above `threshold`; what the reference-based
/// scores need rides along (the codes in a `.npy` beside the JSON).
struct ThresholdFile: Codable {
    var score: OutOfDistributionScore
    var threshold: Double
    /// The false-positive rate asked for, and the share of the reference above the threshold.
    var falsePositiveRate: Double
    var referenceFalsePositives: Double
    var model: String
    var reference: String
    var referenceCount: Int
    /// The reference's unit latent codes (`referenceCount` × `codeLength`), relative to the JSON.
    var codes: String?
    var codeLength: Int
    /// Mean and standard deviation of the log scores the combination standardises by.
    var logMean: [String: Double]
    var logStd: [String: Double]

    enum CodingKeys: String, CodingKey {
        case score, threshold, model, reference, codes
        case falsePositiveRate = "false_positive_rate", referenceFalsePositives = "reference_false_positives"
        case referenceCount = "reference_count", codeLength = "code_length", logMean = "log_mean", logStd = "log_std"
    }

    /// The reference this file stands for (its codes read from beside `url`).
    func reference(besides url: URL) throws -> OutOfDistributionReference? {
        guard let codes else { return nil }
        let array = try NPY.read(url.deletingLastPathComponent().appendingPathComponent(codes))
        guard array.values.count == referenceCount * codeLength else {
            throw CommandError("\(codes): holds \(array.values.count) numbers, expected \(referenceCount) codes of \(codeLength)")
        }
        var statistics: [OutOfDistributionScore: (mean: Double, std: Double)] = [:]
        for (name, mean) in logMean {
            guard let score = OutOfDistributionScore(rawValue: name), let std = logStd[name] else { continue }
            statistics[score] = (mean, std)
        }
        return OutOfDistributionReference(codes: array.values, count: referenceCount, codeLength: codeLength, logStatistics: statistics)
    }
}

enum ThresholdCalibration {
    /// The threshold above which at most `rate` of the reference's scores lie: its ⌊rate·n⌋-th
    /// largest score (0-based), so that fewer than rate·n + 1 scores exceed it.
    static func threshold(atFalsePositiveRate rate: Double, of scores: [Double]) -> Double {
        let descending = scores.sorted(by: >)
        return descending[min(descending.count - 1, Int((rate * Double(descending.count)).rounded(.down)))]
    }
}

/// Indices of `images`, most anomalous by `score` first (ties in input order).
func rankingOrder(_ images: [ScoredImage], by score: OutOfDistributionScore) -> [Int] {
    images.indices.sorted {
        let a = images[$0].scores[score]!, b = images[$1].scores[score]!
        return a != b ? a > b : $0 < $1
    }
}

/// Writes `ranked.csv`: rank, path, every score and (with a threshold) whether it is flagged,
/// most anomalous first by `score`.
func writeRanking(_ names: [String], _ images: [ScoredImage], by score: OutOfDistributionScore, flaggedAbove: Double?,
                  to url: URL) throws -> [Int] {
    let columns = OutOfDistributionScore.allCases.filter { images.first?.scores[$0] != nil }
    let order = rankingOrder(images, by: score)
    var csv = "rank,path," + columns.map(\.rawValue).joined(separator: ",") + (flaggedAbove == nil ? "" : ",flagged") + "\n"
    for (rank, i) in order.enumerated() {
        let values = columns.map { String(format: "%.6g", images[i].scores[$0]!) }
        let flag = flaggedAbove.map { images[i].scores[score]! > $0 ? ",1" : ",0" } ?? ""
        csv += "\(rank + 1),\(csvField(names[i])),\(values.joined(separator: ","))\(flag)\n"
    }
    try AtomicFile.write(Data(csv.utf8), to: url)
    return order
}

private func csvField(_ text: String) -> String {
    text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
}
extension OutOfDistributionScore: ExpressibleByArgument {}
