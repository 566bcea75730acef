/// A heap block of `Float`s owned by a class, so layers can keep and reuse scratch memory
/// across calls without copy-on-write or exclusivity checks in hot loops.
public final class FloatBuffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var count: Int

    public init(count: Int) {
        self.count = count
        pointer = Self.allocate(max(count, 1))
    }

    deinit { pointer.deallocate() }

    /// 64-byte aligned (a cache line), so every buffer starts on the same alignment and BLAS
    /// kernels that peel to alignment take the same path for all of them.
    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
        pointer.initialize(repeating: 0, count: count)
        return pointer
    }

    /// Makes room for at least `count` floats; contents are undefined after a grow.
    public func reserve(_ count: Int) {
        guard count > self.count else { return }
        pointer.deallocate()
        pointer = Self.allocate(count)
        self.count = count
    }

    public func zero(_ count: Int? = nil) {
        pointer.update(repeating: 0, count: count ?? self.count)
    }
}
