/// When a task that failed for a passing reason is tried again, and when ParcelFlow gives up.
///
/// Two pure functions, tested without a broker: ``shouldRetry(afterAttempt:)`` and
/// ``delay(afterAttempt:)``. Delays come from the broker's delay tiers (one queue per tier), so the
/// n-th retry waits the n-th tier, and every later retry the longest one: exponential when the tiers
/// are (1s, 5s, 30s, 2m, 10m by default). A tier's queue expires messages in order, which bounds the
/// jitter to the spread of arrival times within it.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first one included.
    public var maxAttempts: Int
    /// The delay tiers, shortest first (the topology's retry queues).
    public var delays: [Duration]

    public init(maxAttempts: Int = 5, delays: [Duration]) {
        precondition(!delays.isEmpty, "a retry policy needs at least one delay tier")
        self.maxAttempts = max(1, maxAttempts)
        self.delays = delays.sorted()
    }

    /// True when attempt `attempt` (1-based) failed transiently and another attempt is allowed.
    public func shouldRetry(afterAttempt attempt: Int) -> Bool {
        attempt < maxAttempts
    }

    /// How long to wait after attempt `attempt` failed.
    public func delay(afterAttempt attempt: Int) -> Duration {
        delays[min(max(attempt, 1), delays.count) - 1]
    }
}
