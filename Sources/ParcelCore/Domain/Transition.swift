import Foundation

/// Something that happened to a parcel, as the store records it.
///
/// Transitions are idempotent per (parcel, stage): applying one that was already applied changes
/// nothing and says `.duplicate`; one for a stage the parcel has already left never moves it back
/// and says `.stale`. So redelivered tasks and re-run submissions are harmless.
public enum Transition: Sendable, Hashable {
    /// The broker confirmed the stage's task.
    case queued(Stage)
    /// A worker started an attempt.
    case started(Stage, attempt: Int)
    /// A worker finished the stage; the parcel moves on to the next one (or is delivered).
    case completed(Stage)
    /// A passing failure; attempt `attempt` failed and another is scheduled.
    case retrying(Stage, attempt: Int, error: String)
    /// The stage's handler kept the parcel back, for a person to review.
    case held(Stage, reason: String)
    /// Given up at the stage.
    case deadLettered(Stage, reason: String)
    /// A person put the dead-lettered task back (`parcelctl dlq replay`): the parcel is queued at the
    /// stage again with a fresh count of attempts. Only a parcel dead-lettered at that stage can be
    /// replayed; once it is queued there again, a repeat is a duplicate.
    case replayed(Stage)
    /// A person let a parcel held at `stage` go on (`parcelctl release`): the stage counts as done and
    /// the parcel is queued at the next one. Held at the last stage, delivery, it is queued for
    /// delivery again (the stage is tried anew, from attempt 1). Only a parcel held at that stage can
    /// be released; once it is queued where the release put it, a repeat is a duplicate.
    case released(Stage, note: String?)
    /// A person ended a parcel held at `stage` as returned to its sender (`parcelctl return`). Final;
    /// a repeat is a duplicate.
    case returned(Stage, reason: String)

    public var stage: Stage {
        switch self {
        case .queued(let s), .started(let s, _), .completed(let s), .retrying(let s, _, _), .deadLettered(let s, _),
             .replayed(let s), .held(let s, _), .released(let s, _), .returned(let s, _): s
        }
    }
}

/// What applying a transition did.
public enum TransitionOutcome: String, Sendable, Hashable {
    /// Recorded; the parcel's status changed.
    case applied
    /// Already recorded (a redelivered task, a re-run file): nothing changed.
    case duplicate
    /// For a stage the parcel has left, or after it reached a final state: nothing changed.
    case stale
    /// No parcel has that id.
    case unknownParcel = "unknown_parcel"
}

/// The pure rules behind every store: given a parcel's progress, what a transition does.
public struct ParcelProgress: Sendable, Hashable {
    public var status: ParcelStatus
    /// How many stages are complete (0…4).
    public var stagesDone: Int
    /// Attempts at the current stage.
    public var attempts: Int

    public init(status: ParcelStatus, stagesDone: Int, attempts: Int) {
        self.status = status
        self.stagesDone = stagesDone
        self.attempts = attempts
    }

    public static let submitted = ParcelProgress(status: .submitted, stagesDone: 0, attempts: 0)

    /// The progress after `transition`, and whether it applied.
    public func applying(_ transition: Transition) -> (ParcelProgress, TransitionOutcome) {
        let stage = transition.stage
        // A person's decisions about a held parcel: decided by the state, before anything else (a
        // release marks the held stage done, so a repeat names a stage the parcel has left).
        if case .released = transition { return releasing(stage) }
        if case .returned(_, let reason) = transition { return returning(stage, reason: reason) }
        if stage.index < stagesDone {
            // That stage is done: repeating its completion is a duplicate, anything else about it is old news.
            if case .completed = transition { return (self, .duplicate) }
            if case .queued = transition { return (self, .duplicate) }
            return (self, .stale)
        }
        if case .replayed = transition { return replaying(stage) }
        if status.isFinal {
            return (self, sameFinal(transition) ? .duplicate : .stale)
        }
        // Only the stage the parcel is at (its next undone stage) can act.
        guard stage.index == stagesDone else { return (self, .stale) }
        var next = self
        switch transition {
        case .queued:
            if status != .submitted, status.stage == stage { return (self, .duplicate) }
            next.status = .queued(stage)
        case .started(_, let attempt):
            if status == .processing(stage), attempts >= attempt { return (self, .duplicate) }
            next.status = .processing(stage)
            next.attempts = max(attempts, attempt)
        case .completed:
            next.stagesDone += 1
            next.attempts = 0
            next.status = stage.next.map(ParcelStatus.queued) ?? .delivered
        case .retrying(_, let attempt, _):
            if status == .retrying(stage), attempts >= attempt { return (self, .duplicate) }
            next.status = .retrying(stage)
            next.attempts = max(attempts, attempt)
        case .held(_, let reason):
            next.status = .held(stage, reason: reason)
        case .deadLettered(_, let reason):
            next.status = .deadLettered(stage, reason: reason)
        case .replayed:
            return replaying(stage)  // decided above, before the final-state check; here for completeness
        case .released:
            return releasing(stage)  // decided above
        case .returned(_, let reason):
            return returning(stage, reason: reason)  // decided above
        }
        return (next, .applied)
    }

    /// Dead-lettered is final for the workers, but not for a person: a replay reopens the stage.
    private func replaying(_ stage: Stage) -> (ParcelProgress, TransitionOutcome) {
        switch status {
        case .deadLettered(let at, _) where at == stage:
            return (ParcelProgress(status: .queued(stage), stagesDone: stagesDone, attempts: 0), .applied)
        case .queued(let at) where at == stage:
            return (self, .duplicate)
        default:
            return (self, .stale)
        }
    }

    /// Where a release of a parcel held at `stage` puts it: queued at the next stage, or for
    /// delivery again when held at delivery.
    public static func releaseTarget(_ stage: Stage) -> Stage { stage.next ?? stage }

    /// Held is final for the workers, but not for a person: a release lets the parcel go on.
    private func releasing(_ stage: Stage) -> (ParcelProgress, TransitionOutcome) {
        let target = Self.releaseTarget(stage)
        switch status {
        case .held(let at, _) where at == stage:
            return (ParcelProgress(status: .queued(target), stagesDone: target.index, attempts: 0), .applied)
        case .queued(let at) where at == target && stagesDone == target.index:
            return (self, .duplicate)
        default:
            return (self, .stale)
        }
    }

    /// A held parcel returned to its sender: final, with the reason.
    private func returning(_ stage: Stage, reason: String) -> (ParcelProgress, TransitionOutcome) {
        switch status {
        case .held(let at, _) where at == stage:
            var next = self
            next.status = .returned(stage, reason: reason)
            return (next, .applied)
        case .returned(let at, _) where at == stage:
            return (self, .duplicate)
        default:
            return (self, .stale)
        }
    }

    private func sameFinal(_ transition: Transition) -> Bool {
        switch (status, transition) {
        case (.held, .held), (.deadLettered, .deadLettered): true
        case (.delivered, .completed(.delivery)): true
        default: false
        }
    }
}
