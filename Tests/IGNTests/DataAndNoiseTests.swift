import Basics
import Engine
import Foundation
@testable import IGN
import XCTest

final class DataAndNoiseTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try TestData.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Writes an IDX image file (magic 0x00000803, big-endian sizes) and its gzip.
    func writeIDX(_ pixels: [UInt8], count: Int, side: Int) throws -> URL {
        var bytes: [UInt8] = [0, 0, 8, 3]
        for d in [count, side, side] {
            let b: [UInt8] = [UInt8(truncatingIfNeeded: d >> 24), UInt8(truncatingIfNeeded: d >> 16),
                              UInt8(truncatingIfNeeded: d >> 8), UInt8(truncatingIfNeeded: d)]
            bytes += b
        }
        let url = dir.appendingPathComponent("images-idx3-ubyte")
        try Data(bytes + pixels).write(to: url)
        return url
    }

    func testLoadsIDXPlainAndGzipped() throws {
        let pixels = (0..<(3 * 4 * 4)).map { UInt8(($0 * 37) % 256) }
        let url = try writeIDX(pixels, count: 3, side: 4)
        let plain = try Dataset.load(url)
        XCTAssertEqual(plain.count, 3)
        XCTAssertEqual(plain.shape, SampleShape(channels: 1, height: 4, width: 4))
        XCTAssertEqual(plain.values[5], Float(pixels[5]) / 127.5 - 1)
        XCTAssertEqual(plain.values.min()!, -1); XCTAssertLessThanOrEqual(plain.values.max()!, 1)

        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-k", url.path]
        try gzip.run(); gzip.waitUntilExit()
        XCTAssertEqual(try Dataset.load(url.appendingPathExtension("gz")).values, plain.values)

        try Data(try Data(contentsOf: url).prefix(30)).write(to: url)
        XCTAssertThrowsError(try Dataset.load(url)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
    }

    func testLoadsNPY() throws {
        let url = dir.appendingPathComponent("d.npy")
        let values: [Float] = (0..<150).map { Float($0) / 150 - 0.5 }
        try NPY.write(values, shape: [2, 3, 5, 5], to: url)
        let data = try Dataset.load(url)
        XCTAssertEqual(data.shape, SampleShape(channels: 3, height: 5, width: 5))
        XCTAssertEqual(data.values, values)
        try NPY.write(values, shape: [6, 25], to: url)
        XCTAssertThrowsError(try Dataset.load(url))
    }

    func testDFTRoundTrip() {
        let dft = DFT2D(height: 6, width: 5)
        var rng = RandomSource(seed: 1)
        let x = rng.normals(30)
        var re = [Float](repeating: 0, count: 30), im = re, back = re
        x.withUnsafeBufferPointer { dft.forward($0.baseAddress!, re: &re, im: &im) }
        XCTAssertEqual(re[0], x.reduce(0, +), accuracy: 1e-4, "DC term is the sum")
        dft.inverseReal(re: re, im: im, &back)
        for i in 0..<30 { XCTAssertEqual(back[i], x[i], accuracy: 1e-4) }
    }

    /// Fourier noise fitted to data has the data's spectrum: its per-pixel mean is the data's mean image.
    func testFourierNoiseFollowsTheDataSpectrum() {
        let data = TestData.shapes(count: 400, seed: 9)
        let noise = NoiseSource.fourier(fittedTo: data)
        var rng = RandomSource(seed: 2)
        let n = 400, d = data.shape.count
        var z = [Float](repeating: 0, count: n * d)
        z.withUnsafeMutableBufferPointer { noise.fill($0.baseAddress!, count: n, rng: &rng) }
        func meanImage(_ values: [Float], _ count: Int) -> [Float] {
            var mean = [Float](repeating: 0, count: d)
            for i in 0..<count { for k in 0..<d { mean[k] += values[i * d + k] / Float(count) } }
            return mean
        }
        let dataMean = meanImage(data.values, data.count), noiseMean = meanImage(z, n)
        // The noise's mean image is the data's (the DFT's mean terms carry it), up to sampling error.
        let worst = zip(dataMean, noiseMean).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 0.2)
        let overall = z.reduce(0, +) / Float(z.count), dataOverall = dataMean.reduce(0, +) / Float(d)
        XCTAssertEqual(overall, dataOverall, accuracy: 0.02)
        XCTAssertLessThan(dataOverall, -0.5, "mostly dark background: a gaussian's mean of 0 would fail the check above")

        // The spectrum travels in model metadata.
        let restored = try? NoiseSource(metadata: noise.metadata, shape: data.shape)
        XCTAssertEqual(restored?.spectrum, noise.spectrum)
        XCTAssertEqual(restored?.kind, .fourier)
    }
}
