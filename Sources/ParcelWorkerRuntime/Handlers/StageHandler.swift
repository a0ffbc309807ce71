import Foundation
import ParcelCore

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
