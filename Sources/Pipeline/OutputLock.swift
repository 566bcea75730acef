import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `.ign.lock` in the output folder, held for a whole run so that two
/// runs never write into one folder at once. The kernel releases it when the process ends,
/// however it ends; the file itself stays (it is hidden, so never read as an input).
final class OutputLock {
    /// The lock file's name inside the output folder.
    static let fileName = ".ign.lock"

    private let descriptor: Int32

    /// Locks `folder` (which must exist) through its lock file `name` (a shard's own, or the
    /// folder's): at once, or throws `.usage` if another run holds it; with `wait`, blocks until that run ends.
    init(folder: URL, name: String = OutputLock.fileName, wait: Bool) throws {
        let path = folder.appendingPathComponent(name).path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw PipelineError(.output, "\(path): cannot open the lock file (\(String(cString: strerror(errno))))")
        }
        var result: Int32
        repeat {
            result = flock(descriptor, LOCK_EX | (wait ? 0 : LOCK_NB))
        } while result != 0 && errno == EINTR
        guard result == 0 else {
            let busy = errno == EWOULDBLOCK, reason = String(cString: strerror(errno))
            close(descriptor)
            if busy {
                throw PipelineError(.usage, "another ign run is writing into \(folder.path): wait for it to end, or rerun with --wait")
            }
            throw PipelineError(.output, "\(path): cannot lock the output folder (\(reason))")
        }
    }

    /// Releases the lock (the end of the process does too).
    func release() {
        close(descriptor)
    }
}
