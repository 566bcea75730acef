/// A heap block of `Float`s owned by a class, so layers can keep and reuse scratch memory
/// across calls without copy-on-write or exclusivity checks in hot loops.
public final class FloatBuffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var count: Int

    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    /// Makes room for at least `count` floats; contents are undefined after a grow.
    public func reserve(_ count: Int) {
        guard count > self.count else { return }
        pointer.deallocate()
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: 0, count: count)
        self.count = count
    }

    public func zero(_ count: Int? = nil) {
        pointer.update(repeating: 0, count: count ?? self.count)
    }
}
