import CZlib
import Foundation

/// Reads a file, inflating it when it is gzip-compressed (by its magic bytes, not its name).
public func readMaybeGzipped(_ url: URL) throws -> Data {
    let raw: Data
    do { raw = try Data(contentsOf: url) } catch {
        throw TensorFileError(.unreadable, url.path, "cannot read: \(error.localizedDescription)")
    }
    guard raw.count >= 2, raw[raw.startIndex] == 0x1f, raw[raw.startIndex + 1] == 0x8b else { return raw }
    return try gunzip(raw, path: url.path)
}

/// Inflates a gzip stream with zlib.
func gunzip(_ input: Data, path: String) throws -> Data {
    var stream = z_stream()
    guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw TensorFileError(.malformed, path, "zlib could not start")
    }
    defer { inflateEnd(&stream) }
    var output = Data()
    let chunk = 1 << 20
    var buffer = [UInt8](repeating: 0, count: chunk)
    var status: Int32 = Z_OK
    try input.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
        stream.next_in = UnsafeMutablePointer(mutating: src.bindMemory(to: Bytef.self).baseAddress)
        stream.avail_in = uInt(src.count)
        repeat {
            try buffer.withUnsafeMutableBufferPointer { dst in
                stream.next_out = dst.baseAddress
                stream.avail_out = uInt(chunk)
                status = inflate(&stream, Z_NO_FLUSH)
                guard status == Z_OK || status == Z_STREAM_END else {
                    throw TensorFileError(status == Z_BUF_ERROR ? .truncated : .malformed, path,
                                          "corrupt gzip data (zlib status \(status))")
                }
                output.append(dst.baseAddress!, count: chunk - Int(stream.avail_out))
            }
        } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
    }
    guard status == Z_STREAM_END else { throw TensorFileError(.truncated, path, "truncated gzip stream") }
    return output
}
