#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every trainable parameter of a model in one flat allocation laid out as
/// `[parameters | gradients | Adam m | Adam v]`, with named views into it (llm.c style):
/// the optimiser is one loop and a checkpoint one write.
/// Non-trainable state (BatchNorm running statistics and batch counters) sits beside it.
public final class ParameterStore {
    /// A named tensor inside one of the flat arrays.
    public struct View: Sendable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    /// Collects the named tensors before the single allocation is made.
    public struct Layout {
        public private(set) var parameters: [View] = []
        public private(set) var buffers: [View] = []
        public private(set) var counters: [String] = []
        var parameterCount = 0, bufferCount = 0

        public init() {}

        public mutating func addParameter(_ name: String, shape: [Int]) -> View {
            let view = View(name: name, shape: shape, offset: parameterCount)
            parameters.append(view); parameterCount += view.count
            return view
        }

        public mutating func addBuffer(_ name: String, shape: [Int]) -> View {
            let view = View(name: name, shape: shape, offset: bufferCount)
            buffers.append(view); bufferCount += view.count
            return view
        }

        /// An int64 scalar such as BatchNorm's `num_batches_tracked`; returns its index.
        public mutating func addCounter(_ name: String) -> Int {
            counters.append(name)
            return counters.count - 1
        }
    }

    public let layout: Layout
    /// Number of trainable scalars.
    public let count: Int
    private let storage: UnsafeMutablePointer<Float>
    /// Running statistics and other non-trainable floats.
    public let buffers: UnsafeMutablePointer<Float>
    public var counters: [Int64]

    public init(layout: Layout) {
        self.layout = layout
        count = layout.parameterCount
        // calloc: a large block comes zeroed from the kernel and takes memory only as pages are
        // written, so a model that is only run never pays for its gradients and moments.
        storage = calloc(max(4 * count, 1), MemoryLayout<Float>.stride)!.assumingMemoryBound(to: Float.self)
        buffers = .allocate(capacity: max(layout.bufferCount, 1))
        buffers.initialize(repeating: 0, count: max(layout.bufferCount, 1))
        counters = Array(repeating: 0, count: layout.counters.count)
    }

    deinit {
        free(storage)
        buffers.deallocate()
    }

    public var parameters: UnsafeMutablePointer<Float> { storage }
    public var gradients: UnsafeMutablePointer<Float> { storage + count }
    public var adamM: UnsafeMutablePointer<Float> { storage + 2 * count }
    public var adamV: UnsafeMutablePointer<Float> { storage + 3 * count }
    public var bufferCount: Int { layout.bufferCount }

    public func zeroGradients() { gradients.update(repeating: 0, count: count) }

    /// Looks a tensor up by name.
    public func parameter(_ name: String) -> View? { layout.parameters.first { $0.name == name } }
    public func buffer(_ name: String) -> View? { layout.buffers.first { $0.name == name } }

    /// The first parameter or buffer value that is NaN or infinite, with its tensor's name and
    /// its index in that tensor; nil when all are finite.
    public func firstNonFinite() -> (name: String, index: Int, value: Float)? {
        for (views, base) in [(layout.parameters, parameters), (layout.buffers, buffers)] {
            for view in views {
                let values = UnsafeBufferPointer(start: base + view.offset, count: view.count)
                if let bad = values.firstIndex(where: { !$0.isFinite }) { return (view.name, bad, values[bad]) }
            }
        }
        return nil
    }
}
