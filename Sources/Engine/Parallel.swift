import CBLAS
import Dispatch

/// How many cores the engine uses: the chunks of its own loops and OpenBLAS's threads.
public enum Parallel {
    nonisolated(unsafe) public private(set) static var threads = 1

    /// Sets the engine's thread count and OpenBLAS's together, so they never oversubscribe.
    public static func setThreads(_ n: Int) {
        threads = max(1, n)
        openblas_set_num_threads(Int32(threads))
    }

    /// Runs `body` over `0..<count` split into one contiguous range per thread.
    /// Runs inline when the work is small (`count * costPerItem` under ~32k operations).
    public static func forEach(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(threads, count)
        if chunks <= 1 || count * costPerItem < 32_768 {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            body((count * i / chunks)..<(count * (i + 1) / chunks))
        }
    }
}
