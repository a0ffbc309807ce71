import Foundation
import ParcelCore

/// The work of one stage, behind one small protocol: the simulator (``SimulatedStageHandler``), the
/// inspection rules, a call to a service over HTTP, or a deployment's own.
///
/// What a handler may assume, and must allow for:
/// - **At least once.** A task can arrive more than once: after a worker died holding it, after a
///   lost acknowledgement, after a person replayed it. The store makes a second *recording* harmless,
///   but a handler with an effect outside (a carrier called, a label printed) must make a repeat
///   harmless itself, by the context's ``HandlerContext/idempotencyKey``: the same for every attempt
///   and every copy of one parcel's task at one stage.
/// - **A deadline.** ``HandlerContext/deadline`` is when the worker wants an answer; a handler that
///   waits on something outside bounds its wait by it and, past it, fails transiently.
/// - **No cancellation on a graceful stop.** SIGTERM lets a running handler finish (up to the
///   worker's shutdown timeout); only past that is its task cancelled, when the message is already
///   back in its queue for another worker.
///
/// What it returns: ``StageOutcome/completed(_:)`` with the payload the next stage receives,
/// ``StageOutcome/held(reason:)`` to keep the parcel back for a person, or it throws ``TaskFailure``:
/// `.transient` (tried again later, after ``TaskFailure/retryAfter`` when given) or `.permanent`
/// (dead-lettered at once).
public protocol StageHandler: Sendable {
    func handle(_ task: TaskEnvelope, context: HandlerContext) async throws(TaskFailure) -> StageOutcome
}

/// What a handler is told besides the task.
public struct HandlerContext: Sendable, Hashable {
    /// Stable per parcel and stage, across attempts and redeliveries: the task id, `PARCEL:STAGE`.
    public var idempotencyKey: String
    /// 1 for the first attempt at this stage.
    public var attempt: Int
    /// When the worker wants an answer.
    public var deadline: ContinuousClock.Instant

    public init(idempotencyKey: String, attempt: Int, deadline: ContinuousClock.Instant) {
        self.idempotencyKey = idempotencyKey
        self.attempt = attempt
        self.deadline = deadline
    }

    /// The context of `task`, answering within `timeout` from now.
    public init(_ task: TaskEnvelope, timeout: Duration) {
        self.init(idempotencyKey: task.taskID, attempt: task.attempt, deadline: .now + timeout)
    }
}

/// What a stage did with a parcel.
public enum StageOutcome: Sendable, Hashable {
    /// Done; `payload` is what the next stage receives.
    case completed(StagePayload)
    /// Kept back for a person to review (`parcelctl holds`, `release`, `return`): a business
    /// outcome, not an error.
    case held(reason: String)
}
