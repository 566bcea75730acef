import Basics

/// A tensor file (safetensors, npy, IDX) that cannot be read or written, with the file and the cause.
public struct TensorFileError: Error, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable { case unreadable, truncated, malformed, unsupported, mismatch, nonFinite, writeFailed }
    public let code: Code
    public let path: String
    public let message: String

    public init(_ code: Code, _ path: String, _ message: String) {
        self.code = code; self.path = path; self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

extension TensorFileError {
    /// A failed atomic write of a tensor file, as `.writeFailed`.
    init(_ error: AtomicWriteError) { self.init(.writeFailed, error.path, error.message) }
}
