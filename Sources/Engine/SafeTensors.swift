import Basics
import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets}, "__metadata__": {…}}`, then raw little-endian data.
/// Writes F32 or F16 (and I64 scalars such as `num_batches_tracked`); reads F32, F16, BF16 and I64.
public enum SafeTensors {
    /// One tensor as stored.
    public struct Entry: Sendable {
        public enum DType: String, Sendable { case f32 = "F32", f16 = "F16", bf16 = "BF16", i64 = "I64" }
        public let dtype: DType
        public let shape: [Int]
        public let data: Data
        public var count: Int { shape.reduce(1, *) }

        public init(floats: [Float], shape: [Int]) {
            precondition(floats.count == shape.reduce(1, *))
            dtype = .f32; self.shape = shape
            data = floats.withUnsafeBytes { Data($0) }
        }

        /// Half-precision storage of `floats`, rounded to nearest; nil when a finite value is
        /// beyond F16's range (±65504) and would become infinite.
        public init?(halves floats: [Float], shape: [Int]) {
            precondition(floats.count == shape.reduce(1, *))
            let halves = floats.map { Float16($0) }
            guard zip(halves, floats).allSatisfy({ $0.0.isFinite || !$0.1.isFinite }) else { return nil }
            dtype = .f16; self.shape = shape
            data = halves.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
        }

        public init(int64: Int64) {
            dtype = .i64; shape = []
            data = withUnsafeBytes(of: int64.littleEndian) { Data($0) }
        }

        init(dtype: DType, shape: [Int], data: Data) { self.dtype = dtype; self.shape = shape; self.data = data }

        /// The values as Float32, converting F16 and BF16 exactly.
        public func floats() -> [Float] {
            data.withUnsafeBytes { raw -> [Float] in
                switch dtype {
                case .f32: return (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
                case .f16: return (0..<count).map { Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))) }
                case .bf16: return (0..<count).map { Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) << 16) }
                case .i64: return (0..<count).map { Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
                }
            }
        }

        /// The first value as an integer (for I64 scalars).
        public func int64() -> Int64? {
            guard dtype == .i64, data.count >= 8 else { return nil }
            return data.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) }
        }

        var byteWidth: Int {
            switch dtype { case .f32: 4; case .f16, .bf16: 2; case .i64: 8 }
        }
    }

    /// A whole file: named tensors and string metadata.
    public struct File: Sendable {
        public var tensors: [String: Entry]
        public var metadata: [String: String]
        public init(tensors: [String: Entry] = [:], metadata: [String: String] = [:]) {
            self.tensors = tensors; self.metadata = metadata
        }
    }

    /// Serialises `file`; tensors are laid out in name order.
    public static func encode(_ file: File) throws -> Data {
        var header: [String: Any] = [:]
        if !file.metadata.isEmpty { header["__metadata__"] = file.metadata }
        var offset = 0
        let names = file.tensors.keys.sorted()
        for name in names {
            let e = file.tensors[name]!
            header[name] = ["dtype": e.dtype.rawValue, "shape": e.shape, "data_offsets": [offset, offset + e.data.count]]
            offset += e.data.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names { out.append(file.tensors[name]!.data) }
        return out
    }

    /// Writes `file` to `url` atomically.
    public static func write(_ file: File, to url: URL) throws {
        let data = try encode(file)
        do { try AtomicFile.write(data, to: url) } catch let error as AtomicWriteError { throw TensorFileError(error) }
    }

    /// Reads and validates a safetensors file; any inconsistency is a `TensorFileError` naming the file.
    public static func read(_ url: URL) throws -> File {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw TensorFileError(.unreadable, url.path, "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, path: url.path)
    }

    public static func decode(_ data: Data, path: String) throws -> File {
        guard data.count >= 8 else {
            throw TensorFileError(.truncated, path, "not a safetensors file: \(data.count) bytes, shorter than its 8-byte header length")
        }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= 100_000_000 else {
            throw TensorFileError(.malformed, path, "not a safetensors file: header length \(headerLength) is implausible")
        }
        guard UInt64(data.count) >= 8 + headerLength else {
            throw TensorFileError(.truncated, path, "truncated: header needs \(headerLength) bytes, file has \(data.count - 8)")
        }
        let start = data.startIndex
        let headerData = data[(start + 8)..<(start + 8 + Int(headerLength))]
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw TensorFileError(.malformed, path, "not a safetensors file: header is not a JSON object")
        }
        let body = start + 8 + Int(headerLength)
        var file = File()
        for (name, value) in header {
            if name == "__metadata__" {
                guard let meta = value as? [String: String] else {
                    throw TensorFileError(.malformed, path, "__metadata__ must map strings to strings")
                }
                file.metadata = meta
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw TensorFileError(.malformed, path, "tensor '\(name)' has a malformed header entry") }
            guard let dtype = Entry.DType(rawValue: dtypeName) else {
                throw TensorFileError(.unsupported, path, "tensor '\(name)' has dtype \(dtypeName); ign reads F32, F16, BF16 and I64")
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[1] >= offsets[0] else {
                throw TensorFileError(.malformed, path, "tensor '\(name)' has a negative shape or bad offsets")
            }
            let entry = Entry(dtype: dtype, shape: shape, data: Data())
            guard let bytes = byteCount(of: shape, bytesPerElement: entry.byteWidth) else {
                throw TensorFileError(.malformed, path, "tensor '\(name)': shape \(shape) has more elements than any file can hold")
            }
            guard offsets[1] - offsets[0] == bytes else {
                throw TensorFileError(.malformed, path, "tensor '\(name)': shape \(shape) \(dtypeName) does not match its \(offsets[1] - offsets[0]) bytes")
            }
            guard offsets[1] <= data.endIndex - body else {
                throw TensorFileError(.truncated, path, "truncated: tensor '\(name)' ends at data offset \(offsets[1]), the file has \(data.endIndex - body) bytes of data")
            }
            file.tensors[name] = Entry(dtype: dtype, shape: shape, data: Data(data[(body + offsets[0])..<(body + offsets[1])]))
        }
        return file
    }
}
