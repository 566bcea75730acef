import CBLAS
import Foundation

/// OpenBLAS's own thread count. A pass splits its batch into one contiguous range of samples
/// per engine thread (data parallelism, see ``Workspace``), and each thread calls a
/// single-threaded OpenBLAS on its range, so the two never oversubscribe the cores.
public enum Parallel {
    /// Runs `body` with OpenBLAS allowed `threads` threads (1 inside the engine's own threads;
    /// more for work too small to split by sample), then sets it back to 1.
    public static func withBLASThreads<T>(_ threads: Int, _ body: () -> T) -> T {
        openblas_set_num_threads(Int32(max(1, threads)))
        defer { openblas_set_num_threads(1) }
        return body()
    }
}

/// A fixed set of threads that run one closure together, with a barrier between phases
/// (BatchNorm needs every thread's partial sums before any thread can normalise).
/// The caller's thread is worker 0; the others wait for work between runs and end with the pool.
public final class WorkerPool: @unchecked Sendable {
    public let size: Int
    private let state: State

    private final class State: @unchecked Sendable {
        var body: ((Int) -> Void)?
        var participants = 0
        var stopping = false
        let start: [DispatchSemaphore]
        let done = DispatchSemaphore(value: 0)
        var barrier = pthread_barrier_t()
        init(size: Int) { start = (0..<size).map { _ in DispatchSemaphore(value: 0) } }
    }

    public init(size: Int) {
        self.size = max(1, size)
        state = State(size: self.size)
        for w in 1..<self.size {
            let state = self.state
            let thread = Thread {
                while true {
                    state.start[w].wait()
                    if state.stopping { return }
                    state.body?(w)
                    state.done.signal()
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit {
        state.stopping = true
        for w in 1..<size { state.start[w].signal() }
    }

    /// Runs `body(worker)` on `workers` threads (at most `size`) and returns when all have finished.
    public func run(workers: Int, _ body: @escaping (Int) -> Void) {
        let n = min(max(workers, 1), size)
        state.participants = n
        pthread_barrier_init(&state.barrier, nil, UInt32(n))
        defer {
            pthread_barrier_destroy(&state.barrier)
            state.participants = 1
        }
        guard n > 1 else { body(0); return }
        state.body = body
        for w in 1..<n { state.start[w].signal() }
        body(0)
        for _ in 1..<n { state.done.wait() }
        state.body = nil
    }

    /// Waits until every worker of the current run has reached this point (returns at once
    /// outside a run, or in a run of one).
    public func barrier() {
        if state.participants > 1 { pthread_barrier_wait(&state.barrier) }
    }
}
