import Synchronization

/// A counting semaphore for tasks: at most `count` holders at once.
final class Slots: Sendable {
    private struct State {
        var available: Int
        var waiters: [(wanted: Int, continuation: CheckedContinuation<Int, Never>)] = []
    }

    private let state: Mutex<State>

    init(_ count: Int) {
        state = Mutex(State(available: count))
    }

    /// Takes up to `wanted` slots, at least one, waiting until one is free; returns how many it took.
    func acquire(upTo wanted: Int) async -> Int {
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state -> Int in
                guard state.available > 0, state.waiters.isEmpty else {
                    state.waiters.append((max(1, wanted), continuation))
                    return 0
                }
                let granted = min(state.available, max(1, wanted))
                state.available -= granted
                return granted
            }
            if granted > 0 { continuation.resume(returning: granted) }
        }
    }

    func release(_ count: Int) {
        let woken = state.withLock { state -> [(Int, CheckedContinuation<Int, Never>)] in
            state.available += count
            var woken: [(Int, CheckedContinuation<Int, Never>)] = []
            while state.available > 0, !state.waiters.isEmpty {
                let waiter = state.waiters.removeFirst()
                let granted = min(state.available, waiter.wanted)
                state.available -= granted
                woken.append((granted, waiter.continuation))
            }
            return woken
        }
        for (granted, continuation) in woken { continuation.resume(returning: granted) }
    }
}
