import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file writes that never leave a torn file: the bytes go to a temporary file beside the
/// destination (`.ign-tmp-` and 16 hex digits, whatever the destination's name, so that a name
/// as long as the file system allows still has room), which is then renamed over it. The
/// destination holds either its old content or all of the new; on failure the temporary is removed.
public enum AtomicFile {
    /// Writes `data` to `url` atomically.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { put in try data.withUnsafeBytes { try put($0) } }
    }

    /// Writes to `url` atomically what `fill` hands to `put`, in as many pieces as it likes, so
    /// that a large file need not be in memory at once. An error `fill` throws is passed on
    /// (the destination unchanged).
    public static func write(to url: URL, _ fill: (_ put: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let path = url.path
        let temporary = url.deletingLastPathComponent().appendingPathComponent(temporaryName()).path
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw AtomicWriteError(.temporaryFile, path, "writing a temporary file failed: \(String(cString: strerror(errno)))")
        }
        do {
            try fill { bytes in
                if let failure = FileDescriptor.writeAll(descriptor, bytes) {
                    throw AtomicWriteError(.temporaryFile, path, "writing a temporary file failed: \(String(cString: strerror(failure)))")
                }
            }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw AtomicWriteError(.rename, path, "renaming into place failed: \(reason)")
        }
    }

    /// What every temporary name starts with.
    static let temporaryPrefix = ".ign-tmp-"

    /// The length in bytes of every temporary name.
    public static let temporaryNameLength = temporaryPrefix.utf8.count + 16

    /// A fresh temporary name: ``temporaryPrefix`` and 16 lowercase hex digits.
    static func temporaryName() -> String {
        let hex = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return temporaryPrefix + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Whether a file name is one of ``write(_:to:)``'s temporaries (left behind only when a
    /// process is killed mid-write): exactly ``temporaryPrefix`` and 16 lowercase hex digits.
    public static func isTemporary(_ name: String) -> Bool {
        guard name.hasPrefix(temporaryPrefix) else { return false }
        let digits = name.utf8.dropFirst(temporaryPrefix.utf8.count)
        return digits.count == 16 && digits.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// Writes on POSIX file descriptors.
public enum FileDescriptor {
    /// Writes all of `bytes` to `descriptor`, retrying short and interrupted writes; returns
    /// nil, or the `errno` of the write that failed.
    public static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return written < 0 ? errno : EIO }
            offset += written
        }
        return nil
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
