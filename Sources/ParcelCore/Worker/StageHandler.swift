import Foundation

/// The work of one stage. The default handlers simulate it (``SimulatedStageHandler``); a real
/// deployment would plug in its own, one per stage, behind this protocol.
public protocol StageHandler: Sendable {
    /// Does the stage's work for `task`; returns what the next stage needs, or that inspection held the
    /// parcel. Throws ``TaskFailure`` for a failure: transient ones are retried, permanent ones are not.
    func handle(_ task: TaskEnvelope) async throws(TaskFailure) -> StageOutcome
}

/// What a stage did with a parcel.
public enum StageOutcome: Sendable, Hashable {
    /// Done; `payload` is what the next stage receives.
    case completed(StagePayload)
    /// Inspection keeps the parcel back: a final business outcome, not an error.
    case held(reason: String)
}

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
