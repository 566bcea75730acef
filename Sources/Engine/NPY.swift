import Basics
import Foundation

/// NumPy `.npy` files holding little-endian float32 arrays in C order (what `np.save` writes
/// for a contiguous `float32` array), the exchange format for batches of images and noise.
public enum NPY {
    /// Reads a float32 array; returns its shape and values. An array holding NaN or ±infinity
    /// is refused (`.nonFinite`, naming the first such index): every array ign reads is data.
    public static func read(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TensorFileError(.unreadable, url.path, "cannot read: \(error.localizedDescription)")
        }
        let bytes = [UInt8](data.prefix(10))
        guard bytes.count == 10, bytes[0] == 0x93, bytes[1...5].elementsEqual("NUMPY".utf8) else {
            throw TensorFileError(.malformed, url.path, "not a .npy file (missing \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8; headerStart = 10
        } else {
            guard data.count >= 12 else { throw TensorFileError(.truncated, url.path, "truncated .npy header") }
            let b = [UInt8](data.prefix(12))
            headerLength = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; headerStart = 12
        }
        guard data.count >= headerStart + headerLength,
              let header = String(data: data[(data.startIndex + headerStart)..<(data.startIndex + headerStart + headerLength)], encoding: .ascii)
        else { throw TensorFileError(.truncated, url.path, "truncated .npy header") }
        guard let fields = headerFields(header) else {
            throw TensorFileError(.malformed, url.path, "malformed .npy header (not a dict of descr, fortran_order and shape)")
        }
        guard fields["descr"] == "'<f4'" else {
            throw TensorFileError(.unsupported, url.path, "only little-endian float32 arrays are supported (descr \(fields["descr"] ?? "missing"))")
        }
        guard fields["fortran_order"] == "False" else {
            throw TensorFileError(.unsupported, url.path, "Fortran-order arrays are not supported")
        }
        guard let shape = fields["shape"].flatMap(tuple) else {
            throw TensorFileError(.malformed, url.path, "bad shape in .npy header")
        }
        guard let bytes = byteCount(of: shape, bytesPerElement: 4) else {
            throw TensorFileError(.malformed, url.path, "shape \(shape) has more elements than any file can hold")
        }
        let count = bytes / 4
        let payload = data.startIndex + headerStart + headerLength
        guard data.endIndex - payload >= count * 4 else {
            throw TensorFileError(.truncated, url.path, "truncated: shape \(shape) needs \(count * 4) bytes of data, file has \(data.endIndex - payload)")
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { dst in
            data[payload..<(payload + count * 4)].withUnsafeBytes { src in dst.copyMemory(from: src) }
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            var index: [Int] = [], rest = bad
            for size in shape.reversed() {
                index.insert(rest % size, at: 0)
                rest /= size
            }
            throw TensorFileError(.nonFinite, url.path, "value \(values[bad]) at index \(index) (flat \(bad)) of shape \(shape): data must be finite")
        }
        return (shape, values)
    }

    /// The entries of a .npy header, a Python dict literal such as
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 28, 28), }`, as key → value text;
    /// nil unless it holds exactly the keys `descr`, `fortran_order` and `shape`.
    static func headerFields(_ header: String) -> [String: String]? {
        var rest = Substring(header.trimmingCharacters(in: .whitespacesAndNewlines))
        guard rest.first == "{", rest.last == "}" else { return nil }
        rest = rest.dropFirst().dropLast()
        var fields: [String: String] = [:]
        func skipSpaces() { rest = rest.drop { $0 == " " } }
        while true {
            skipSpaces()
            if rest.isEmpty { break }
            guard rest.first == "'", let keyEnd = rest.dropFirst().firstIndex(of: "'") else { return nil }
            let key = String(rest[rest.index(after: rest.startIndex)..<keyEnd])
            rest = rest[rest.index(after: keyEnd)...]
            skipSpaces()
            guard rest.first == ":" else { return nil }
            rest = rest.dropFirst()
            skipSpaces()
            let valueEnd: Substring.Index
            switch rest.first {
            case "'": guard let end = rest.dropFirst().firstIndex(of: "'") else { return nil }; valueEnd = rest.index(after: end)
            case "(": guard let end = rest.firstIndex(of: ")") else { return nil }; valueEnd = rest.index(after: end)
            default: valueEnd = rest.firstIndex(of: ",") ?? rest.endIndex
            }
            guard fields[key] == nil else { return nil }
            fields[key] = String(rest[..<valueEnd]).trimmingCharacters(in: .whitespaces)
            rest = rest[valueEnd...]
            skipSpaces()
            if rest.first == "," { rest = rest.dropFirst() } else if !rest.isEmpty { return nil }
        }
        return Set(fields.keys) == ["descr", "fortran_order", "shape"] ? fields : nil
    }

    /// The dimensions of a shape tuple (`(3, 28, 28)`, `(5,)`, `()`); nil if it is not one.
    static func tuple(_ text: String) -> [Int]? {
        guard text.first == "(", text.last == ")" else { return nil }
        let items = text.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let dims = (items.last == "" ? items.dropLast() : items[...]).map { Int($0) }
        guard dims.allSatisfy({ $0 != nil && $0! >= 0 }) else { return nil }
        return dims.map { $0! }
    }

    /// Writes a float32 array atomically.
    public static func write(_ values: [Float], shape: [Int], to url: URL) throws {
        precondition(values.count == shape.reduce(1, *), "values do not fill shape \(shape)")
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        data.append(UInt8(header.utf8.count & 0xff)); data.append(UInt8(header.utf8.count >> 8))
        data.append(contentsOf: Array(header.utf8))
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        do { try AtomicFile.write(data, to: url) } catch let error as AtomicWriteError { throw TensorFileError(error) }
    }
}
