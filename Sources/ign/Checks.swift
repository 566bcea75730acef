import ArgumentParser
import Foundation
import Imaging

/// The checks commands run in `validate()`. Each failure is a `ValidationError` naming the
/// option and the value given, so no value a user can type reaches the work as a crash.
enum Check {
    /// Engine threads: more than any machine has cores, few enough to start.
    static let threads = 1...1024
    /// Applications of f.
    static let steps = 1...100
    /// Samples per network call (as pipeline files allow): bounds the activations held at once.
    static let batch = 1...4096
    /// Samples per training or calibration batch: BatchNorm needs at least 2 for batch statistics.
    static let trainingBatch = 2...4096

    /// `value` lies in `range`.
    static func count(_ option: String, _ value: Int, in range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw ValidationError("\(option) must be \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
    }

    /// `value` is a finite number in `range` (NaN and infinities are in none).
    static func number<T: BinaryFloatingPoint>(_ option: String, _ value: T, in range: ClosedRange<T>) throws {
        guard range.contains(value) else {
            throw ValidationError("\(option) must be in [\(range.lowerBound), \(range.upperBound)], got \(value)")
        }
    }

    /// `value` is a finite number in `range`, which leaves out its upper bound.
    static func number<T: BinaryFloatingPoint>(_ option: String, _ value: T, in range: Range<T>) throws {
        guard range.contains(value) else {
            throw ValidationError("\(option) must be in [\(range.lowerBound), \(range.upperBound)), got \(value)")
        }
    }

    /// `value` is a finite number above 0 and at most `limit`.
    static func positive<T: BinaryFloatingPoint>(_ option: String, _ value: T, atMost limit: T) throws {
        guard value > 0, value <= limit else {
            throw ValidationError("\(option) must be in (0, \(limit)], got \(value)")
        }
    }

    /// Something exists at `path`: the file or folder an option names as input.
    static func exists(_ option: String, _ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("\(option) \(path): no such file or folder")
        }
    }

    /// `path` ends in an image extension ign writes.
    static func imageFile(_ option: String, _ path: String) throws {
        guard ImageFormat(pathExtension: URL(fileURLWithPath: path).pathExtension) != nil else {
            throw ValidationError("\(option) \(path): the extension must be \(ImageFormat.names)")
        }
    }
}
