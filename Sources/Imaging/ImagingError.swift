import Foundation

/// An error from the imaging layer: what went wrong, for which file, and libvips' own words.
public struct ImagingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The kind of failure.
    public enum Code: String, Sendable, CaseIterable {
        /// The file cannot be opened: missing, a directory, or no permission.
        case unreadable
        /// The bytes are not in any format libvips can load (includes empty files).
        case notAnImage
        /// The header was recognised but the pixel data is truncated or corrupt.
        case truncated
        /// The header announces more pixels than the configured limit.
        case tooLarge
        /// A valid image that ign cannot handle (band layout, colour space, format).
        case unsupported
        /// Encoding or writing the output file failed.
        case writeFailed
        /// A caller passed a bad parameter (sizes, channel counts, corruption specs).
        case invalidArgument
        /// A libvips operation failed for another reason.
        case processingFailed
    }

    /// The kind of failure.
    public let code: Code
    /// The file concerned, if any.
    public let path: String?
    /// A human-readable explanation, including libvips' error buffer text where there is one.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, path: String?, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// "path: code: message".
    public var description: String {
        "\(path ?? "<memory>"): \(code.rawValue): \(message)"
    }
}
