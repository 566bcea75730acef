import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file writes that never leave a torn file: the bytes go to a temporary file beside the
/// destination (`.NAME.NUMBER.tmp`), which is then renamed over it. The destination holds
/// either its old content or all of the new; on failure the temporary is removed.
public enum AtomicFile {
    /// Writes `data` to `url` atomically.
    public static func write(_ data: Data, to url: URL) throws {
        let path = url.path
        let temporary = url.deletingLastPathComponent().appendingPathComponent(temporaryName(for: url.lastPathComponent))
        do {
            try data.write(to: temporary, options: [.withoutOverwriting])
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw AtomicWriteError(.temporaryFile, path, "writing a temporary file failed: \(error.localizedDescription)")
        }
        if rename(temporary.path, path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw AtomicWriteError(.rename, path, "renaming into place failed: \(reason)")
        }
    }

    /// A fresh temporary name for a write to the file `name`: `.NAME.NUMBER.tmp`.
    static func temporaryName(for name: String) -> String {
        ".\(name).\(UInt32.random(in: 0...UInt32.max)).tmp"
    }

    /// Whether a file name is one of ``write(_:to:)``'s temporaries (left behind only when a
    /// process is killed mid-write).
    public static func isTemporary(_ name: String) -> Bool {
        guard name.hasPrefix("."), name.hasSuffix(".tmp") else { return false }
        let core = name.dropFirst().dropLast(4)  // NAME.NUMBER
        guard let dot = core.lastIndex(of: ".") else { return false }
        let number = core[core.index(after: dot)...]
        return dot > core.startIndex && !number.isEmpty && number.allSatisfy { ("0"..."9").contains($0) }
    }
}

/// An atomic write that failed, with the destination and the cause.
public struct AtomicWriteError: Error, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        /// The temporary file could not be written (no such folder, no space, no permission).
        case temporaryFile
        /// The temporary file could not be renamed over the destination.
        case rename
    }
    public let code: Code
    /// The destination.
    public let path: String
    public let message: String

    public init(_ code: Code, _ path: String, _ message: String) {
        self.code = code; self.path = path; self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
