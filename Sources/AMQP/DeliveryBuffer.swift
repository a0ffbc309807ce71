import Synchronization

/// Deliveries on their way from the connection thread to one consumer, handed over in batches.
///
/// The connection thread appends everything one read burst produced under a single lock and wakes the
/// consumer once; the consumer takes the whole backlog at a time. So the cost of crossing threads is
/// paid per batch, not per message. The broker's prefetch bounds how much can pile up.
final class DeliveryBuffer: Sendable {
    private struct State {
        var items: [AMQPDelivery] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        var error: AMQPError?
    }

    private let state = Mutex(State())

    /// Called by the connection thread.
    func append(_ deliveries: [AMQPDelivery]) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.finished else { return nil }
            state.items.append(contentsOf: deliveries)
            return state.waiter.take()
        }
        waiter?.resume()
    }

    /// Ends the stream once the buffered deliveries are taken: cleanly (nil) or with an error.
    func finish(_ error: AMQPError?) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.finished else { return nil }
            state.finished = true
            state.error = error
            return state.waiter.take()
        }
        waiter?.resume()
    }

    /// The next batch; nil when the stream ended cleanly or the task was cancelled.
    func next() async throws(AMQPError) -> [AMQPDelivery]? {
        while true {
            enum Step { case batch([AMQPDelivery]), end(AMQPError?), wait }
            let step: Step = state.withLock { state in
                if !state.items.isEmpty {
                    defer { state.items = [] }
                    return .batch(state.items)
                }
                return state.finished ? .end(state.error) : .wait
            }
            switch step {
            case .batch(let items): return items
            case .end(let error):
                if let error { throw error }
                return nil
            case .wait:
                if Task.isCancelled { return nil }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let resumeNow = state.withLock { state -> Bool in
                            if !state.items.isEmpty || state.finished || Task.isCancelled { return true }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    state.withLock { $0.waiter.take() }?.resume()
                }
            }
        }
    }
}
