@testable import Basics
import Foundation
import XCTest

final class AtomicFileTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ign-basics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testWritesAndReplacesLeavingNoTemporary() throws {
        let url = dir.appendingPathComponent("a.json")
        try AtomicFile.write(Data("old".utf8), to: url)
        try AtomicFile.write(Data("new".utf8), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data("new".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["a.json"])
    }

    func testFailuresNameTheFileAndLeaveNothingBehind() throws {
        let missing = dir.appendingPathComponent("no/such/folder/x.png")
        XCTAssertThrowsError(try AtomicFile.write(Data([1]), to: missing)) { error in
            XCTAssertEqual((error as? AtomicWriteError)?.code, .temporaryFile)
            XCTAssertEqual((error as? AtomicWriteError)?.path, missing.path)
            XCTAssertTrue("\(error)".hasPrefix(missing.path + ": "), "\(error)")
        }
        // A non-empty folder where the file should go: the rename fails, the temporary goes.
        let occupied = dir.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: occupied.appendingPathComponent("inside"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try AtomicFile.write(Data([1]), to: occupied)) { error in
            XCTAssertEqual((error as? AtomicWriteError)?.code, .rename)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["occupied"])
    }

    /// ign's temporaries have one short shape; a user's `.X.<digits>.tmp` files are not theirs.
    func testRecognisesItsOwnTemporariesOnly() {
        for _ in 0..<100 {
            let name = AtomicFile.temporaryName()
            XCTAssertTrue(AtomicFile.isTemporary(name), name)
            XCTAssertEqual(name.utf8.count, 25, name)
        }
        for name in ["x.png", ".x.tmp", ".x.png.123.tmp", ".photo.jpg.4242.tmp", ".ign-tmp-", ".ign-tmp-0123456789abcdef0",
                     ".ign-tmp-0123456789ABCDEF", ".ign-tmp-0123456789abcdeg", "ign-tmp-0123456789abcdef"] {
            XCTAssertFalse(AtomicFile.isTemporary(name), name)
        }
    }

    /// A destination name of 255 bytes, the most Linux allows, is written (the temporary beside
    /// it is short whatever the name).
    func testLongestLegalNameIsWritten() throws {
        let url = dir.appendingPathComponent(String(repeating: "n", count: 251) + ".png")
        try AtomicFile.write(Data([7]), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data([7]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [url.lastPathComponent])
    }
}

final class HashAndRandomTests: XCTestCase {
    func testFNV1a64MatchesTheReferenceVectors() {
        XCTAssertEqual(FNV1a64.hash("".utf8), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(FNV1a64.hash("a".utf8), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(FNV1a64.hash(Data("foobar".utf8)), 0x8594_4171_f739_67e8)
    }

    func testRandomSourceIsSeededBySplitMix64() {
        // SplitMix64's first outputs from seed 0 (the reference implementation's).
        XCTAssertEqual(RandomSource(seed: 0).stateWords,
                       [0xe220_a839_7b1d_cdaf, 0x6e78_9e6a_a1b9_65f4, 0x06c4_5d18_8009_454f, 0xf88b_b8a8_724c_81ec])
    }

    func testRandomSourceIsReproducibleAndNormal() {
        var a = RandomSource(seed: 9), b = RandomSource(seed: 9)
        XCTAssertEqual(a.normals(1000), b.normals(1000))
        let saved = a.stateWords
        let next = a.normals(10)
        var c = RandomSource(state: saved)
        XCTAssertEqual(c.normals(10), next, "a restored state continues the same stream")
        let x = a.normals(200_000)
        let mean = x.reduce(0, +) / Float(x.count)
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(x.count)
        XCTAssertEqual(mean, 0, accuracy: 0.01); XCTAssertEqual(variance, 1, accuracy: 0.02)
    }
}

final class PixelNoiseTests: XCTestCase {
    func testAddsTwoSigmaOnTheSignedScaleAndClamps() {
        let sigma = 0.1
        func noisyGrey(seed: UInt64) -> [Float] {
            var grey = [Float](repeating: 0, count: 100_000)
            var rng = RandomSource(seed: seed)
            PixelNoise.add(to: &grey, sigma: sigma, rng: &rng)
            return grey
        }
        let grey = noisyGrey(seed: 5)
        let mean = grey.reduce(0) { $0 + Double($1) } / Double(grey.count)
        let sd = (grey.reduce(0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(grey.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.002)
        XCTAssertEqual(sd, 2 * sigma, accuracy: 0.002, "σ is in 0–1 units: 2σ on the [-1, 1] scale")
        XCTAssertEqual(grey, noisyGrey(seed: 5), "seeded")
        XCTAssertNotEqual(grey, noisyGrey(seed: 6))

        var rng = RandomSource(seed: 7)
        var white = [Float](repeating: 1, count: 10_000)
        PixelNoise.add(to: &white, sigma: 0.3, rng: &rng)
        XCTAssertEqual(white.max(), 1)
        XCTAssertGreaterThan(white.filter { $0 == 1 }.count, 4_000, "about half the draws are clamped back to white")

        let before = rng
        var untouched: [Float] = [0.25, -0.5]
        PixelNoise.add(to: &untouched, sigma: 0, rng: &rng)
        XCTAssertEqual(untouched, [0.25, -0.5])
        XCTAssertEqual(rng, before, "σ = 0 draws nothing")
    }
}
