import Basics
import Engine
import Foundation
import IGN

/// Small synthetic datasets and scratch folders for the IGN tests.
enum TestData {
    /// `count` 28×28 images of a bright disc or bar on a dark background, at random places and sizes.
    static func shapes(count: Int, channels: Int = 1, seed: UInt64) -> Dataset {
        var rng = RandomSource(seed: seed)
        let side = 28, plane = side * side
        var values = [Float](repeating: -1, count: count * channels * plane)
        for i in 0..<count {
            let cx = 6 + 16 * rng.nextUniform(), cy = 6 + 16 * rng.nextUniform(), r = 3 + 5 * rng.nextUniform()
            let isBar = rng.nextUniform() < 0.5
            for c in 0..<channels {
                let level = channels == 1 ? Float(1) : 0.2 + 0.8 * rng.nextUniform()
                for y in 0..<side {
                    for x in 0..<side {
                        let dx = Float(x) - cx, dy = Float(y) - cy
                        let inside = isBar ? (abs(dx) < r && abs(dy) < r / 3) : (dx * dx + dy * dy < r * r)
                        if inside { values[((i * channels + c) * side + y) * side + x] = level }
                    }
                }
            }
        }
        return Dataset(shape: SampleShape(channels: channels, height: side, width: side), values: values)
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ign-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
