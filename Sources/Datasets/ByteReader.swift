import Foundation

/// Bounds-checked big-endian reads from a window of a file's bytes (as OpenType stores its
/// numbers). Offsets are relative to the window's start; a read outside it is `.malformed`.
struct ByteReader {
    let bytes: [UInt8]
    let path: String
    /// Where the window starts in `bytes`.
    let base: Int
    /// The window's length.
    let count: Int

    /// A reader over all of `bytes`.
    init(_ bytes: [UInt8], path: String) {
        self.init(bytes: bytes, path: path, base: 0, count: bytes.count)
    }

    private init(bytes: [UInt8], path: String, base: Int, count: Int) {
        self.bytes = bytes
        self.path = path
        self.base = base
        self.count = count
    }

    /// The sub-window of `length` bytes at `offset`, named `what` in errors.
    func window(at offset: Int, length: Int, _ what: String) throws -> ByteReader {
        try check(offset, length, what)
        return ByteReader(bytes: bytes, path: path, base: base + offset, count: length)
    }

    func u8(_ offset: Int, _ what: String) throws -> Int {
        try check(offset, 1, what)
        return Int(bytes[base + offset])
    }

    func u16(_ offset: Int, _ what: String) throws -> Int {
        try check(offset, 2, what)
        return Int(bytes[base + offset]) << 8 | Int(bytes[base + offset + 1])
    }

    func u32(_ offset: Int, _ what: String) throws -> Int {
        try check(offset, 4, what)
        return (0..<4).reduce(0) { $0 << 8 | Int(bytes[base + offset + $1]) }
    }

    /// `length` bytes at `offset`, copied out.
    func data(_ offset: Int, length: Int, _ what: String) throws -> Data {
        try check(offset, length, what)
        return Data(bytes[(base + offset)..<(base + offset + length)])
    }

    private func check(_ offset: Int, _ length: Int, _ what: String) throws {
        guard offset >= 0, length >= 0, offset <= count - length else {
            throw DatasetError(.malformed, path: path,
                               "\(what): \(length) bytes at offset \(offset) lie outside the \(count) available")
        }
    }
}
