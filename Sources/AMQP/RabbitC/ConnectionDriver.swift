import Foundation
import Logging
import Synchronization
internal import CRabbitMQ

/// The thread-safe side of a connection: the inbox of work for the connection's thread, and the wake-up.
///
/// rabbitmq-c must never be used from two threads, so every call happens on one dedicated thread
/// (``ConnectionLoop``). Other threads hand it work through this inbox and wake it through an eventfd
/// that it polls together with the socket. A wake-up is written only when none is pending, so a burst
/// of acks or publishes costs one syscall, and the thread drains them all in one pass.
final class ConnectionDriver: Sendable {
    enum Command: Sendable {
        /// Runs on the connection thread; returns a connection-level error that must end the connection.
        case perform(run: @Sendable (ConnectionLoop) -> AMQPError?, fail: @Sendable (AMQPError) -> Void)
        case publish(channel: UInt16, messages: [AMQPOutboundMessage], waiter: PublishWaiter)
        case settle(channel: UInt16, tag: UInt64, settlement: AMQPSettlement)

        func fail(_ error: AMQPError) {
            switch self {
            case .perform(_, let fail): fail(error)
            case .publish(_, _, let waiter): waiter.failAll(error)
            case .settle: break
            }
        }
    }

    private struct Shared {
        var commands: [Command] = []
        var wakePending = false
        /// Set once the connection is gone: new work fails at once with it.
        var closedError: AMQPError?
        var finished = false
        var finishWaiters: [CheckedContinuation<AMQPError?, Never>] = []
        /// Since when the broker has blocked publishing (`connection.blocked`), while it does.
        var blockedSince: ContinuousClock.Instant?
    }

    private let shared = Mutex(Shared())
    let wakeFD: Int32
    let logger: Logger

    init(logger: Logger) throws(AMQPError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw AMQPError(.protocolError, "eventfd failed: \(String(cString: strerror(errno)))") }
        self.wakeFD = fd
        self.logger = logger
    }

    deinit {
        // Closed here, not by the thread: a submitter may still be about to write to it.
        close(wakeFD)
    }

    /// Records that the broker blocked (`since` a time) or unblocked (nil) publishing; returns since
    /// when it had been blocked.
    @discardableResult
    func setBlocked(since: ContinuousClock.Instant?) -> ContinuousClock.Instant? {
        shared.withLock { shared in
            defer { shared.blockedSince = since }
            return shared.blockedSince
        }
    }

    var blockedSince: ContinuousClock.Instant? { shared.withLock { $0.blockedSince } }

    /// Queues work for the connection thread, or fails it at once if the connection is gone.
    func submit(_ command: Command) {
        enum Outcome { case queued, wake, rejected(AMQPError) }
        let outcome: Outcome = shared.withLock { shared in
            if let error = shared.closedError { return .rejected(error) }
            shared.commands.append(command)
            if shared.wakePending { return .queued }
            shared.wakePending = true
            return .wake
        }
        switch outcome {
        case .queued: break
        case .wake:
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        case .rejected(let error): command.fail(error)
        }
    }

    /// Runs `body` on the connection thread and returns its result.
    ///
    /// A connection-level error thrown by `body` also ends the connection.
    func perform<T: Sendable>(_ body: @escaping @Sendable (ConnectionLoop) throws(AMQPError) -> T) async throws(AMQPError) -> T {
        let result: Result<T, AMQPError> = await withCheckedContinuation { continuation in
            submit(.perform(
                run: { loop in
                    do throws(AMQPError) {
                        continuation.resume(returning: .success(try body(loop)))
                        return nil
                    } catch {
                        continuation.resume(returning: .failure(error))
                        return error.isConnectionLevel ? error : nil
                    }
                },
                fail: { continuation.resume(returning: .failure($0)) }))
        }
        return try result.get()
    }

    /// Called by the connection thread: takes all queued work.
    func takeCommands() -> [Command] {
        var counter: UInt64 = 0
        _ = read(wakeFD, &counter, 8)
        return shared.withLock { shared in
            shared.wakePending = false
            return shared.commands.isEmpty ? [] : shared.commands.replacing([])
        }
    }

    /// Called by the connection thread as it stops: refuses new work and returns what was still queued.
    func markClosed(_ error: AMQPError) -> [Command] {
        shared.withLock { shared in
            if shared.closedError == nil { shared.closedError = error }
            return shared.commands.replacing([])
        }
    }

    /// Called by the connection thread when it has released everything.
    func markFinished(_ reason: AMQPError?) {
        let waiters = shared.withLock { shared in
            shared.finished = true
            return shared.finishWaiters.replacing([])
        }
        for waiter in waiters { waiter.resume(returning: reason) }
    }

    var closedError: AMQPError? { shared.withLock { $0.closedError } }

    /// Waits until the connection thread has stopped; returns why (nil after a close by the application).
    func waitUntilFinished() async -> AMQPError? {
        await withCheckedContinuation { continuation in
            let done: Bool = shared.withLock { shared in
                if shared.finished { return true }
                shared.finishWaiters.append(continuation)
                return false
            }
            if done {
                let error = closedError
                continuation.resume(returning: error?.code == .closedByApplication ? nil : error)
            }
        }
    }
}

extension Array {
    /// Returns the array's contents and leaves `replacement` in its place.
    fileprivate mutating func replacing(_ replacement: [Element]) -> [Element] {
        let old = self
        self = replacement
        return old
    }
}
