import Engine
import Foundation
import XCTest

final class TensorFileTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ign-tensorfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testSafeTensorsRoundTrip() throws {
        let url = dir.appendingPathComponent("t.safetensors")
        let file = SafeTensors.File(tensors: ["a.weight": .init(floats: [1, -2.5, 3, 4, 5, 6], shape: [2, 3]),
                                              "a.num_batches_tracked": .init(int64: 42)],
                                    metadata: ["arch": "tiny28", "channels": "1"])
        try SafeTensors.write(file, to: url)
        let data = try Data(contentsOf: url)
        let headerLength = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        XCTAssertEqual(headerLength % 8, 0, "header is padded to 8 bytes")
        let back = try SafeTensors.read(url)
        XCTAssertEqual(back.metadata, file.metadata)
        XCTAssertEqual(back.tensors["a.weight"]?.floats(), [1, -2.5, 3, 4, 5, 6])
        XCTAssertEqual(back.tensors["a.weight"]?.shape, [2, 3])
        XCTAssertEqual(back.tensors["a.num_batches_tracked"]?.int64(), 42)
        XCTAssertEqual(back.tensors["a.num_batches_tracked"]?.shape, [])
    }

    func testReadsF16AndBF16() throws {
        // 1.5 in F16 is 0x3E00; -2 in BF16 is 0xC000.
        let header = #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}"#
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        data.append(contentsOf: [0x00, 0x3E, 0x00, 0x3C, 0x00, 0xC0])
        let file = try SafeTensors.decode(data, path: "mem")
        XCTAssertEqual(file.tensors["h"]?.floats(), [1.5, 1.0])
        XCTAssertEqual(file.tensors["b"]?.floats(), [-2])
    }

    func testRejectsCorruptFiles() throws {
        let good = try SafeTensors.encode(SafeTensors.File(tensors: ["w": .init(floats: [1, 2, 3, 4], shape: [4])]))
        let cases: [(String, Data, TensorFileError.Code)] = [
            ("empty", Data(), .truncated),
            ("short header", good.prefix(20), .truncated),
            ("truncated data", good.prefix(good.count - 3), .truncated),
            ("text", Data("hello, I am not a model".utf8), .malformed),
            ("huge header length", Data([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]) + Data(count: 16), .malformed),
        ]
        for (name, data, code) in cases {
            let url = dir.appendingPathComponent("\(name).safetensors")
            try data.write(to: url)
            XCTAssertThrowsError(try SafeTensors.read(url), name) { error in
                let e = error as? TensorFileError
                XCTAssertEqual(e?.code, code, "\(name): \(error)")
                XCTAssertEqual(e?.path, url.path)
            }
        }
        // A header whose shape disagrees with its byte range, one whose element count overflows,
        // and offsets that overflow when added to the header's end.
        for header in [#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#,
                       #"{"w":{"dtype":"F32","shape":[2305843009213693952,3,1,1],"data_offsets":[0,16]}}"#,
                       #"{"w":{"dtype":"F32","shape":[2305843009213693951],"data_offsets":[0,9223372036854775804]}}"#] {
            var data = Data()
            withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
            data.append(contentsOf: Array(header.utf8)); data.append(Data(count: 16))
            XCTAssertThrowsError(try SafeTensors.decode(data, path: "x"), header) {
                XCTAssertTrue([.malformed, .truncated].contains(($0 as? TensorFileError)?.code), "\(header): \($0)")
            }
        }
    }

    func testNPYRoundTripAndErrors() throws {
        let url = dir.appendingPathComponent("a.npy")
        let values = (0..<24).map { Float($0) * 0.5 - 3 }
        try NPY.write(values, shape: [2, 3, 2, 2], to: url)
        let data = try Data(contentsOf: url)
        XCTAssertEqual((data.count - values.count * 4) % 64, 0, "header aligned to 64 bytes as numpy does")
        let (shape, back) = try NPY.read(url)
        XCTAssertEqual(shape, [2, 3, 2, 2]); XCTAssertEqual(back, values)

        try data.prefix(data.count - 8).write(to: url)
        XCTAssertThrowsError(try NPY.read(url)) { XCTAssertEqual(($0 as? TensorFileError)?.code, .truncated) }
        var f8 = data
        f8.replaceSubrange(f8.range(of: Data("<f4".utf8))!, with: Data("<f8".utf8))
        try f8.write(to: url)
        XCTAssertThrowsError(try NPY.read(url)) { XCTAssertEqual(($0 as? TensorFileError)?.code, .unsupported) }
    }

    /// A .npy file with `header` (padded as numpy pads it) and `payload` bytes of data.
    private func npy(header: String, payload: Int) -> Data {
        var text = header
        while (10 + text.utf8.count + 1) % 64 != 0 { text += " " }
        text += "\n"
        let length = text.utf8.count
        return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(text.utf8)
                    + [UInt8](repeating: 0, count: payload))
    }

    func testNPYHeadersAreParsedAsDictsNotSearched() throws {
        let url = dir.appendingPathComponent("h.npy")
        // numpy's own spellings, keys in any order, 1-D and scalar shapes.
        for (header, shape) in [("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", [2, 3]),
                                ("{'shape': (5,), 'fortran_order': False, 'descr': '<f4'}", [5]),
                                ("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", [])] {
            try npy(header: header, payload: 4 * shape.reduce(1, *)).write(to: url)
            XCTAssertEqual(try NPY.read(url).shape, shape, header)
        }
        // A decoy 'shape' inside another entry, a repeated key, an unknown key, a bad tuple.
        for header in ["{'descr': '<f4', 'fortran_order': False, 'note': \"'shape': (1,)\", 'shape': (2,), }",
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'shape': (2,), }",
                       "{'descr': '<f4', 'fortran_order': False}",
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }",
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }"] {
            try npy(header: header, payload: 64).write(to: url)
            XCTAssertThrowsError(try NPY.read(url), header) { XCTAssertEqual(($0 as? TensorFileError)?.code, .malformed, header) }
        }
        // An element count that overflows is an error, not a trap.
        try npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2305843009213693952, 3, 1, 1), }", payload: 16).write(to: url)
        XCTAssertThrowsError(try NPY.read(url)) { XCTAssertEqual(($0 as? TensorFileError)?.code, .malformed) }
    }

    func testNPYWithNonFiniteValuesIsRefusedNamingTheFirstIndex() throws {
        let url = dir.appendingPathComponent("nan.npy")
        var values = [Float](repeating: 0.5, count: 24)
        values[17] = -.infinity
        values[19] = .nan
        try NPY.write(values, shape: [2, 3, 2, 2], to: url)
        XCTAssertThrowsError(try NPY.read(url)) { error in
            XCTAssertEqual((error as? TensorFileError)?.code, .nonFinite)
            XCTAssertEqual("\(error)", "\(url.path): value -inf at index [1, 1, 0, 1] (flat 17) of shape [2, 3, 2, 2]: data must be finite")
        }
    }

    func testGunzipMatchesSystemGzip() throws {
        let plain = dir.appendingPathComponent("p.bin")
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 7 + $0 / 13) }
        try Data(bytes).write(to: plain)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-k", plain.path]
        try gzip.run(); gzip.waitUntilExit()
        let zipped = plain.appendingPathExtension("gz")
        XCTAssertEqual(try readMaybeGzipped(zipped), Data(bytes))
        XCTAssertEqual(try readMaybeGzipped(plain), Data(bytes), "plain files pass through")
        let cut = try Data(contentsOf: zipped)
        try cut.prefix(cut.count / 2).write(to: zipped)
        XCTAssertThrowsError(try readMaybeGzipped(zipped)) { XCTAssertEqual(($0 as? TensorFileError)?.code, .truncated) }
    }

    func testIDXReadsDimensionsAndBytes() throws {
        let url = dir.appendingPathComponent("labels-idx2-ubyte")
        try Data([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3] + (1...6).map(UInt8.init)).write(to: url)
        let (shape, bytes) = try IDX.read(url)
        XCTAssertEqual(shape, [2, 3]); XCTAssertEqual(bytes, [1, 2, 3, 4, 5, 6])
        for (data, code) in [([1, 0, 8, 1, 0, 0, 0, 0], TensorFileError.Code.malformed), ([0, 0, 0x0d, 1, 0, 0, 0, 0], .unsupported),
                             ([0, 0, 8, 1, 0, 0, 0, 3, 7], .truncated), ([0, 0, 8, 2, 0, 0], .truncated)] as [([UInt8], TensorFileError.Code)] {
            try Data(data).write(to: url)
            XCTAssertThrowsError(try IDX.read(url), "\(data)") { XCTAssertEqual(($0 as? TensorFileError)?.code, code, "\(data)") }
        }
    }
}
