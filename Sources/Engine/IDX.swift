import Foundation

/// IDX files (the MNIST format) of unsigned bytes, plain or gzip-compressed: a magic of two zero
/// bytes, the element type 0x08, the rank, big-endian 32-bit dimensions, then the bytes in C order.
public enum IDX {
    /// Reads an unsigned-byte IDX file (`.gz` or plain, by its contents): its dimensions and bytes.
    public static func read(_ url: URL) throws -> (shape: [Int], bytes: [UInt8]) {
        let bytes = [UInt8](try readMaybeGzipped(url))
        guard bytes.count >= 4, bytes[0] == 0, bytes[1] == 0 else {
            throw TensorFileError(.malformed, url.path, "not an IDX file (bad magic)")
        }
        guard bytes[2] == 0x08 else {
            throw TensorFileError(.unsupported, url.path, "IDX element type 0x\(String(bytes[2], radix: 16)); only unsigned bytes are supported")
        }
        let rank = Int(bytes[3])
        guard bytes.count >= 4 + 4 * rank else { throw TensorFileError(.truncated, url.path, "truncated IDX header") }
        let shape = (0..<rank).map { i in (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * i + $1]) } }
        let start = 4 + 4 * rank, count = shape.reduce(1, *)
        guard bytes.count - start >= count else {
            throw TensorFileError(.truncated, url.path, "truncated: \(shape.map(String.init).joined(separator: "×")) needs \(count) bytes, file has \(bytes.count - start)")
        }
        return (shape, Array(bytes[start..<(start + count)]))
    }
}
