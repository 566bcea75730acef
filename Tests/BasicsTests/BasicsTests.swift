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

    func testRecognisesItsOwnTemporariesOnly() {
        for name in ["x.png", ".metrics.jsonl", "a.b.c"] {
            XCTAssertTrue(AtomicFile.isTemporary(AtomicFile.temporaryName(for: name)), name)
        }
        for name in ["x.png", ".x.tmp", ".x.12a.tmp", "x.png.123.tmp", ".x.png.123.tmp~", "..123.tmp", ".x.png..tmp"] {
            XCTAssertFalse(AtomicFile.isTemporary(name), name)
        }
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
