import Foundation

/// An error while building a dataset: the kind, the file concerned and the cause.
public struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The kind of failure.
    public enum Code: String, Sendable {
        /// A file cannot be read: missing, a directory, or no permission.
        case unreadable
        /// A file's bytes do not follow its format (bad offsets, truncated tables).
        case malformed
        /// A valid file that uses a feature this code does not handle.
        case unsupported
        /// A caller passed a bad parameter or an inconsistent selection.
        case invalidArgument
        /// Nothing usable is left to build a set from.
        case empty
        /// An output folder or file cannot be written.
        case writeFailed
    }

    /// The kind of failure.
    public let code: Code
    /// The file concerned, if any.
    public let path: String?
    /// What went wrong, in words.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, path: String?, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// "path: code: message".
    public var description: String { "\(path ?? "<options>"): \(code.rawValue): \(message)" }
}
