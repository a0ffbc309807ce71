import Dispatch

/// Runs an actor's jobs on a serial DispatchQueue of its own, so that blocking SQLite calls (a write
/// waiting up to the busy timeout for another process's lock, an fsync at a checkpoint) block that
/// queue's thread and never one of the few threads of Swift's cooperative pool.
///
/// The pattern of GRDB's `DispatchQueueActor`: the actor's `unownedExecutor` is this executor, so the
/// compiler's actor isolation is what confines the connection to the queue.
final class SerialQueueExecutor: SerialExecutor {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
    }

    func enqueue(_ job: UnownedJob) {
        queue.async {
            job.runSynchronously(on: self.asUnownedSerialExecutor())
        }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func checkIsolated() {
        dispatchPrecondition(condition: .onQueue(queue))
    }

    /// Stops the program when called anywhere but on the queue (debug builds only).
    func assertOnQueue() {
        #if DEBUG
        dispatchPrecondition(condition: .onQueue(queue))
        #endif
    }
}
