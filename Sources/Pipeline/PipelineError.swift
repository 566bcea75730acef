import Foundation

/// An error that stops a pipeline (as opposed to one bad image, which is recorded and skipped).
public struct PipelineError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The kind of failure; the command line maps `.usage` to exit code 2 and the rest to 1.
    public enum Code: String, Sendable {
        /// A bad pipeline file, flag value, or missing input: nothing was written.
        case usage
        /// The model cannot be loaded.
        case model
        /// The output folder cannot be written, or a path would leave it.
        case output
    }

    /// The kind of failure.
    public let code: Code
    /// One line for the user.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
