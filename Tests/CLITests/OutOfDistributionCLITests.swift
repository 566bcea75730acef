import Engine
import Foundation
import Imaging
import XCTest

/// `ign drift` scoring: separation figures against a reference, ranking, copies of the top
/// inputs, a fitted threshold and flagging with it, on real PNGs through the bundled fashion28.
extension CLITests {
    /// Reference: 12 garment-like bright blocks; inputs: 8 thin strokes and a blob, and one broken file.
    func writeScoringImages() throws {
        let writer = ImageWriter()
        for folder in ["ref", "in"] { try FileManager.default.createDirectory(at: url(folder), withIntermediateDirectories: true) }
        for i in 0..<12 {
            var image = try PlanarImage(width: 28, height: 28, channels: 1)
            for y in (3 + i % 3)..<(25 - i % 4) { for x in (6 + i % 5)..<(22 - i % 3) { image.pixels[y * 28 + x] = 0.6 } }
            try writer.write(image, to: url("ref/block\(i).png"))
        }
        for i in 0..<8 {
            var image = try PlanarImage(width: 28, height: 28, channels: 1)
            for y in 4..<24 { for x in (4 + 2 * i)..<(6 + 2 * i) { image.pixels[y * 28 + x] = 1 } }
            try writer.write(image, to: url("in/stroke\(i).png"))
        }
        var blob = try PlanarImage(width: 28, height: 28, channels: 1)
        for y in 5..<23 { for x in 7..<21 { blob.pixels[y * 28 + x] = 0.6 } }
        try writer.write(blob, to: url("in/blob.png"))
        try Data("not a png".utf8).write(to: url("in/broken.png"))
    }

    func testDriftScoringRanksCopiesAndThresholds() throws {
        try writeScoringImages()
        let base = ["drift", "in", "--model", "fashion28", "--reference", "ref"]
        let stderr = try ign(base + ["--rank", "--output", "out", "--copy-top", "3", "top", "--fit-threshold", "0.25",
                                     "--threshold-out", "fitted/threshold.json", "--json", "scores.json", "--threads", "1"])
        XCTAssertTrue(stderr.contains("broken.png"), "the broken file is named: \(stderr)")
        let scores = try JSONSerialization.jsonObject(with: Data(contentsOf: url("scores.json"))) as! [String: Any]
        XCTAssertEqual(scores["inputs"] as? Int, 9)
        XCTAssertEqual(scores["reference"] as? Int, 12)
        XCTAssertEqual(scores["score"] as? String, "latent-knn")
        XCTAssertEqual((scores["failures"] as? [[String: Any]])?.first?["path"] as? String, "broken.png")
        let auroc = try XCTUnwrap(scores["auroc"] as? [String: Double])
        XCTAssertEqual(Set(auroc.keys), ["drift", "relative-drift", "distance", "drift-2", "drift-3", "latent-drift", "latent-knn", "latent-knn+drift"])
        XCTAssertTrue(auroc.values.allSatisfy { (0...1).contains($0) })

        // ranked.csv: every input once, ranks 1…9, the ranking score non-increasing.
        let rows = try String(contentsOf: url("out/ranked.csv"), encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        let header = rows[0]
        XCTAssertEqual(Array(header.prefix(2)), ["rank", "path"])
        XCTAssertEqual(header.last, "flagged")
        let column = try XCTUnwrap(header.firstIndex(of: "latent-knn"))
        let body = Array(rows.dropFirst())
        XCTAssertEqual(body.map { $0[0] }, (1...9).map(String.init))
        XCTAssertEqual(Set(body.map { $0[1] }).count, 9)
        let values = body.map { Double($0[column])! }
        XCTAssertEqual(values, values.sorted(by: >))

        // The top three are copied byte for byte, named by rank.
        for rank in 1...3 {
            let name = body[rank - 1][1]
            XCTAssertEqual(try Data(contentsOf: url(String(format: "top/%04d-%@", rank, name))), try Data(contentsOf: url("in/" + name)))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("top")).count, 3)

        // The threshold: at most 25% of the reference above it, its codes beside it.
        let threshold = try JSONSerialization.jsonObject(with: Data(contentsOf: url("fitted/threshold.json"))) as! [String: Any]
        let value = try XCTUnwrap(threshold["threshold"] as? Double)
        XCTAssertLessThanOrEqual(try XCTUnwrap(threshold["reference_false_positives"] as? Double), 0.25)
        XCTAssertEqual(threshold["codes"] as? String, "threshold.codes.npy")
        XCTAssertEqual(try NPY.read(url("fitted/threshold.codes.npy")).shape, [12, 256])

        // Flagging new inputs with the file alone: exit 0, the flagged count and ranked.csv's flags agree with the threshold.
        try ign(["drift", "in", "--model", "fashion28", "--threshold", "fitted/threshold.json", "--rank", "--output", "flag", "--json", "flag.json", "--threads", "2"])
        let flag = try JSONSerialization.jsonObject(with: Data(contentsOf: url("flag.json"))) as! [String: Any]
        let expected = values.filter { $0 > value }.count
        XCTAssertEqual(flag["flagged"] as? Int, expected)
        let flagged = try String(contentsOf: url("flag/ranked.csv"), encoding: .utf8).split(separator: "\n").dropFirst().filter { $0.hasSuffix(",1") }
        XCTAssertEqual(flagged.count, expected)
        XCTAssertGreaterThan(expected, 0, "thin strokes score above a threshold fitted on blocks")

        // The ranking does not depend on the thread count (the threshold run used 2 threads, the first 1).
        let again = try String(contentsOf: url("flag/ranked.csv"), encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",")[1] }
        XCTAssertEqual(again.map(String.init), body.map { $0[1] })
    }

    func testDriftScoringUsageErrors() throws {
        try writeScoringImages()
        XCTAssertTrue(try ign(["drift", "in", "--model", "fashion28", "--rank"], expect: 2).contains("--output"))
        XCTAssertTrue(try ign(["drift", "in", "--model", "fashion28", "--rank", "--output", "o"], expect: 2).contains("--reference"))
        XCTAssertTrue(try ign(["drift", "in", "--model", "fashion28", "--fit-threshold", "0.1"], expect: 2).contains("--reference"))
        XCTAssertTrue(try ign(["drift", "in", "--model", "fashion28", "--reference", "ref", "--copy-top", "x", "d"], expect: 2).contains("--copy-top"))
        // drift needs no reference: ranking by it works without one.
        try ign(["drift", "in", "--model", "fashion28", "--rank", "--output", "o", "--score", "drift"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("o/ranked.csv")))
    }
}
