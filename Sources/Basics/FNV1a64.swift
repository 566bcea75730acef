/// FNV-1a, 64 bits: a stable hash of bytes, identical on every run and platform (unlike
/// Swift's `Hasher`). Seeds per-image corruptions and fingerprints model files.
public enum FNV1a64 {
    /// The hash of `bytes`.
    @inlinable
    public static func hash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
