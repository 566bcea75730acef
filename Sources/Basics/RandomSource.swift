import Foundation

/// The one seeded generator: xoshiro256** seeded through SplitMix64. Fast, reproducible
/// everywhere, and its whole state is four integers, so a checkpoint can store it and a resumed
/// run draws the same numbers.
public struct RandomSource: RandomNumberGenerator, Sendable, Equatable {
    public var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose state is four SplitMix64 steps from `seed`.
    public init(seed: UInt64) {
        var s = seed
        func splitmix() -> UInt64 {
            s &+= RandomSource.golden
            return RandomSource.mix(s)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    /// A generator continuing from saved ``stateWords``.
    public init(state: [UInt64]) {
        precondition(state.count == 4)
        self.state = (state[0], state[1], state[2], state[3])
    }

    /// The state as four words, for checkpoints.
    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    public static func == (a: RandomSource, b: RandomSource) -> Bool { a.stateWords == b.stateWords }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0; state.3 ^= state.1; state.1 ^= state.2; state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextUniform() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Fills `count` values with N(mean, std²) samples (Box–Muller, two per pair of uniforms).
    public mutating func fillNormal(_ out: UnsafeMutablePointer<Float>, count: Int, mean: Float = 0, std: Float = 1) {
        var i = 0
        while i < count {
            let u1 = Double(next() >> 11) * 0x1p-53, u2 = Double(next() >> 11) * 0x1p-53
            let r = (-2 * Foundation.log(1 - u1)).squareRoot(), theta = 2 * Double.pi * u2
            out[i] = mean + std * Float(r * cos(theta))
            if i + 1 < count { out[i + 1] = mean + std * Float(r * sin(theta)) }
            i += 2
        }
    }

    /// `count` samples of N(mean, std²).
    public mutating func normals(_ count: Int, mean: Float = 0, std: Float = 1) -> [Float] {
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { fillNormal($0.baseAddress!, count: count, mean: mean, std: std) }
        return values
    }

    /// SplitMix64's increment, 2⁶⁴/φ.
    public static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// SplitMix64's finaliser: a bijective mix of 64 bits, for deriving seeds from seeds.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
