import Basics

extension RandomSource {
    /// A uniform integer in 0..<`bound` (multiply-high, so the same seed gives the same
    /// numbers whatever the standard library's own algorithms do).
    mutating func index(below bound: Int) -> Int {
        precondition(bound > 0)
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// 0..<`count` in a Fisher–Yates shuffled order.
    mutating func permutation(_ count: Int) -> [Int] {
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(i, index(below: i + 1))
        }
        return order
    }
}

/// Item positions split into test, validation and train sets by a seeded shuffle: the
/// first shuffled items are test, the next validation, the rest train (each in shuffled order).
public struct SeededSplit: Equatable, Sendable {
    /// Positions of the training items.
    public let train: [Int]
    /// Positions of the validation items (carved from what would otherwise be train).
    public let validation: [Int]
    /// Positions of the test items.
    public let test: [Int]

    /// Splits `count` items; `testCount + validationCount` must leave at least one for train.
    public init(count: Int, testCount: Int, validationCount: Int, seed: UInt64) throws {
        guard testCount >= 0, validationCount >= 0, count - testCount - validationCount >= 1 else {
            throw DatasetError(.invalidArgument, path: nil,
                               "\(count) items cannot give \(testCount) test and \(validationCount) validation items and still leave some to train on")
        }
        var rng = RandomSource(seed: seed)
        let order = rng.permutation(count)
        test = Array(order[0..<testCount])
        validation = Array(order[testCount..<(testCount + validationCount)])
        train = Array(order[(testCount + validationCount)...])
    }

    /// `fraction` of `count`, rounded, as a set size.
    public static func size(_ fraction: Double, of count: Int) throws -> Int {
        guard fraction >= 0, fraction < 1 else {
            throw DatasetError(.invalidArgument, path: nil, "a split fraction must be in [0, 1), got \(fraction)")
        }
        return Int((Double(count) * fraction).rounded())
    }
}
