import Foundation
import ParcelCore
import Synchronization

/// Deliveries whose handlers are done (or that needed none), waiting to be settled; the settling
/// loop takes everything gathered so far at once.
final class Settling: Sendable {
    /// A class: it moves through several arrays on its way, and a reference is cheaper to move.
    final class Item: Sendable {
        enum Step: Sendable {
            case decided(TaskDecision)
            case ran(TaskProcessor.Ran)
        }

        let delivery: any TaskDelivery
        let stage: Stage
        let received: ContinuousClock.Instant
        let step: Step

        init(delivery: any TaskDelivery, stage: Stage, received: ContinuousClock.Instant, step: Step) {
            self.delivery = delivery
            self.stage = stage
            self.received = received
            self.step = step
        }
    }

    private struct State {
        var items: [Item] = []
        var waiter: CheckedContinuation<[Item]?, Never>?
        var closed = false
    }

    private let state = Mutex(State())

    func add(_ item: Item) {
        let handOver = state.withLock { state -> (CheckedContinuation<[Item]?, Never>, [Item])? in
            state.items.append(item)
            guard let waiter = state.waiter.take() else { return nil }
            defer { state.items = [] }
            return (waiter, state.items)
        }
        if let (waiter, items) = handOver { waiter.resume(returning: items) }
    }

    /// No more items will come: `next()` returns nil once the gathered ones are taken.
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<[Item]?, Never>? in
            state.closed = true
            return state.waiter.take()
        }
        waiter?.resume(returning: nil)
    }

    /// Everything gathered so far, possibly nothing; never waits.
    func takeGathered() -> [Item] {
        state.withLock { state in
            defer { state.items = [] }
            return state.items
        }
    }

    /// Everything gathered so far (at least one item), or nil once closed and empty.
    func next() async -> [Item]? {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> [Item]?? in
                if !state.items.isEmpty {
                    defer { state.items = [] }
                    return .some(state.items)
                }
                if state.closed { return .some(nil) }
                state.waiter = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}
