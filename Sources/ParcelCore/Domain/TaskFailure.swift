/// Why a task failed.
public struct TaskFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Might work later: retried with backoff, then dead-lettered.
        case transient
        /// Will not work: dead-lettered at once.
        case permanent
        /// The message is not a valid task: dead-lettered at once.
        case invalid
        /// The task kept stopping workers before they could finish it: quarantined without running it
        /// again.
        case poison
    }

    public var kind: Kind
    public var reason: String
    /// For a transient failure: the earliest time to try again that the other side asked for (an HTTP
    /// `Retry-After`); nil leaves it to the retry policy's backoff.
    public var retryAfter: Duration?

    public init(_ kind: Kind, _ reason: String, retryAfter: Duration? = nil) {
        self.kind = kind
        self.reason = reason
        self.retryAfter = retryAfter
    }

    public static func transient(_ reason: String, retryAfter: Duration? = nil) -> TaskFailure {
        TaskFailure(.transient, reason, retryAfter: retryAfter)
    }
    public static func permanent(_ reason: String) -> TaskFailure { TaskFailure(.permanent, reason) }

    public var description: String { "\(kind): \(reason)" }
}
