import Foundation

/// A person's review of held parcels (`parcelctl release`, `parcelctl return`): what each asked-for
/// parcel would go through, decided for the whole batch before anything changes.
///
/// Warehouse staff expect no half-done batches: if any id is unknown, or its parcel is neither held
/// nor already decided the same way, the whole batch is refused and nothing is recorded or sent.
/// Parcels already released or returned are fine: the decision is idempotent, and a released parcel
/// still queued where the release put it gets its task published again (a crash between recording
/// a release and publishing its task is healed by running the release again).
public enum HoldReview {
    /// What the person decided.
    public enum Decision: Sendable, Hashable {
        /// Send the parcel on (``Transition/released(_:note:)``).
        case release(note: String?)
        /// End it as returned to its sender (``Transition/returned(_:reason:)``).
        case returnToSender(reason: String)

        /// The transition that records the decision for a parcel held at `stage`.
        public func transition(at stage: Stage) -> Transition {
            switch self {
            case .release(let note): .released(stage, note: note)
            case .returnToSender(let reason): .returned(stage, reason: reason)
            }
        }
    }

    /// What the decision does to one parcel.
    public enum Step: Sendable, Hashable {
        /// Held at the stage: record the decision (a release then publishes the next task).
        case decide(Stage)
        /// Released from a hold at the stage before. `republish`: it is still queued where the release
        /// put it, so its task is published again (harmless if it was: workers treat duplicates).
        case alreadyReleased(Stage, republish: Bool)
        /// Returned to its sender before, from a hold at the stage.
        case alreadyReturned(Stage)
        /// Unknown, or not held: refuses the whole batch. The text says why, for the person.
        case refused(String)

        public var isRefused: Bool {
            if case .refused = self { true } else { false }
        }
    }

    /// The step `decision` takes for a parcel, from its record (nil: no such parcel) and history.
    public static func step(_ decision: Decision, record: ParcelRecord?, history: [ParcelEvent]) -> Step {
        guard let record else { return .refused("no parcel has this id") }
        let status = record.status
        switch (decision, status) {
        case (.release, .held(let stage, _)):
            guard record.parcel != nil else {
                return .refused("its personal data was erased, so no task can be sent on; return it instead")
            }
            return .decide(stage)
        case (.returnToSender, .held(let stage, _)):
            return .decide(stage)
        case (.returnToSender, .returned(let stage, _)):
            return .alreadyReturned(stage)
        case (.release, .returned):
            return .refused("not held: it is \(status)")
        case (.release, _):
            // Released before? The history says; the state alone cannot (a parcel queued at a stage
            // may have got there without a hold).
            if let released = history.last(where: { $0.kind == .released }), let stage = released.stage {
                let target = ParcelProgress.releaseTarget(stage)
                let waiting = status == .queued(target) && record.progress.stagesDone == target.index
                return .alreadyReleased(stage, republish: waiting)
            }
            return .refused("not held: it is \(status)")
        case (.returnToSender, _):
            return .refused("not held: it is \(status)")
        }
    }

    /// The ids in order, each once.
    public static func distinct(_ ids: [String]) -> [String] {
        var seen: Set<String> = []
        return ids.filter { seen.insert($0).inserted }
    }

    /// The task a released parcel is sent on with: for the stage the release queued it at, attempt 1,
    /// carrying what every earlier stage records. The held task's own payload is gone (nothing stores
    /// it), so each field gets its stand-in (``StagePayload/fillingIn(recordedBy:from:at:)``), its time
    /// being when the history says that stage was completed — for the held stage, the release.
    public static func releasedTask(_ parcel: Parcel, submittedAt: Date, heldAt stage: Stage, history: [ParcelEvent],
                                    now: Date) -> TaskEnvelope {
        let target = ParcelProgress.releaseTarget(stage)
        var task = TaskEnvelope(parcel: parcel, stage: target, attempt: 1, createdAt: now, submittedAt: submittedAt)
        let releasedAt = history.last(where: { $0.kind == .released && $0.stage == stage })?.at ?? now
        for earlier in Stage.allCases where earlier < target {
            let completedAt = earlier == stage
                ? releasedAt
                : history.last(where: { $0.kind == .completed && $0.stage == earlier })?.at ?? now
            task.payload = task.payload.fillingIn(recordedBy: earlier, from: task, at: completedAt)
        }
        return task
    }
}
