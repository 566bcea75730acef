import Foundation

/// A first-in first-out queue of fixed capacity joining two stages: `put` waits while it is
/// full, `take` while it is empty, so memory stays flat whatever the number of items.
final class BoundedQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element?]
    private var head = 0
    private var count = 0
    private var closed = false

    /// A queue holding at most `capacity` items.
    init(capacity: Int) {
        items = Array(repeating: nil, count: max(1, capacity))
    }

    /// Adds an item, waiting for room; returns false (dropping it) if the queue is closed.
    @discardableResult
    func put(_ item: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while count == items.count && !closed { condition.wait() }
        guard !closed else { return false }
        items[(head + count) % items.count] = item
        count += 1
        condition.broadcast()
        return true
    }

    /// The next item, waiting until one comes or until `deadline` (nil: for ever); nil at
    /// the deadline, or once the queue is closed and empty.
    func take(until deadline: Date? = nil) -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 && !closed {
            if let deadline {
                if !condition.wait(until: deadline) { break }
            } else {
                condition.wait()
            }
        }
        guard count > 0 else { return nil }
        let item = items[head]
        items[head] = nil
        head = (head + 1) % items.count
        count -= 1
        condition.broadcast()
        return item
    }

    /// No more items will be put; takers get the remaining items, then nil.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
