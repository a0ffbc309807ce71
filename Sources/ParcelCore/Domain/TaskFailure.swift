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

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    public static func transient(_ reason: String) -> TaskFailure { TaskFailure(.transient, reason) }
    public static func permanent(_ reason: String) -> TaskFailure { TaskFailure(.permanent, reason) }

    public var description: String { "\(kind): \(reason)" }
}
