import ParcelCore

/// When a task that failed for a passing reason is tried again, and when ParcelFlow gives up.
///
/// Two pure functions, tested without a broker: ``shouldRetry(afterAttempt:)`` and
/// ``delay(afterAttempt:)``. Delays come from the broker's delay tiers (one queue per tier), so the
/// n-th retry waits the n-th tier, and every later retry the longest one: exponential when the tiers
/// are (1s, 5s, 30s, 2m, 10m by default).
///
/// Jitter, so that parcels that failed together do not all come back together: each retry copy
/// carries a per-message expiration a random share (up to ``jitter``) shorter than its tier. Within
/// one tier's queue the delays differ by at most that share, so a message waiting behind another
/// (RabbitMQ expires messages at the head of a queue only) is held back by no more than it.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first one included.
    public var maxAttempts: Int
    /// The delay tiers, shortest first (the topology's retry queues).
    public var delays: [Duration]
    /// The largest share by which a retry may come earlier than its tier (0…0.5).
    public var jitter: Double

    public init(maxAttempts: Int = 5, delays: [Duration], jitter: Double = 0.2) {
        precondition(!delays.isEmpty, "a retry policy needs at least one delay tier")
        self.maxAttempts = max(1, maxAttempts)
        self.delays = delays.sorted()
        self.jitter = min(max(jitter, 0), 0.5)
    }

    /// The retry copy's own expiration: its tier's delay, shortened by `unit` × ``jitter``
    /// (`unit` is a random number in 0..<1).
    public func expiration(afterAttempt attempt: Int, unit: Double) -> Duration {
        delay(afterAttempt: attempt) * (1 - jitter * min(max(unit, 0), 1))
    }

    /// Where a retry the other side asked to wait `retryAfter` for goes: the shortest tier at least that
    /// long (the longest when none is), and the copy's expiration within it — never shorter than
    /// `retryAfter` unless even the longest tier is, then that tier.
    public func delay(honouring retryAfter: Duration) -> (tier: Duration, expiration: Duration) {
        let wanted = max(retryAfter, .zero)
        let tier = delays.first { $0 >= wanted } ?? delays[delays.count - 1]
        return (tier, min(wanted, tier))
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
