import Foundation

/// Writes `data` to `url` through a temporary file in the same directory and a rename,
/// so the destination holds either the old content or the whole new one, never a torn file.
public func writeAtomically(_ data: Data, to url: URL) throws {
    let dir = url.deletingLastPathComponent()
    let temp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
    do {
        try data.write(to: temp)
        guard rename(temp.path, url.path) == 0 else {
            throw TensorFileError(.writeFailed, url.path, "rename failed: \(String(cString: strerror(errno)))")
        }
    } catch {
        try? FileManager.default.removeItem(at: temp)
        if let e = error as? TensorFileError { throw e }
        throw TensorFileError(.writeFailed, url.path, "cannot write: \(error.localizedDescription)")
    }
}
