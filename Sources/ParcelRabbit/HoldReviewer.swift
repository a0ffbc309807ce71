import AMQP
import Foundation
import ParcelCore

/// Carries out a person's review of held parcels (`parcelctl release`, `parcelctl return`): the
/// whole batch checked first, then recorded in one transaction, then — for a release — each parcel's
/// next task published with a broker confirm.
///
/// 1. Every id is checked against the store (``HoldReview/step(_:record:history:)``). One unknown
///    id, or one parcel neither held nor already decided the same way, refuses the whole batch:
///    nothing is recorded and nothing is published.
/// 2. The held ones are recorded released or returned, all in one transaction, with who (the OS
///    user) and why (the note or reason) in their history.
/// 3. A release publishes each released parcel's task for the stage it was queued at — and again
///    for a parcel released before that still waits there, since the crash this heals may have come
///    between step 2 and this one. Workers treat a task published twice as a duplicate.
///
/// The check and the recording are two steps: a parcel that another person releases or returns in
/// between is reported as such (it is not changed twice), the rest of the batch goes ahead.
public struct HoldReviewer: Sendable {
    /// What became of one id.
    public enum Result: Sendable {
        /// Released now from a hold at `from`; its task for `to` was confirmed by the broker.
        case released(from: Stage, to: Stage)
        /// Released before; `republished`: its task for `to` was published again (it still waits there).
        case alreadyReleased(from: Stage, to: Stage, republished: Bool, now: ParcelStatus)
        case returned(from: Stage)
        case alreadyReturned(from: Stage)
        /// Recorded released, but the broker did not confirm its task: run the release again.
        case notPublished(from: Stage, to: Stage, error: String)
        /// The batch was refused because of this id (or, with the batch going ahead, it changed meanwhile).
        case refused(String)
        /// Fine by itself, but the batch was refused because of another id: nothing was done.
        case untouched
    }

    public struct Report: Sendable {
        /// One entry per distinct id, in the order given.
        public var results: [(id: String, result: Result)] = []
        /// True when the check refused the batch: nothing was recorded or published.
        public var batchRefused = false

        /// Every id done, now or before.
        public var succeeded: Bool {
            !batchRefused && results.allSatisfy { entry in
                switch entry.result {
                case .released, .alreadyReleased, .returned, .alreadyReturned: true
                case .notPublished, .refused, .untouched: false
                }
            }
        }
    }

    let store: any StatusStore

    public init(store: any StatusStore) {
        self.store = store
    }

    /// Ends held parcels as returned to their senders (steps 1 and 2; nothing is published).
    ///
    /// - Parameters:
    ///   - ids: parcel ids; repeats count once.
    ///   - reason: why, checked by ``ReviewText``; recorded in the history and as the parcel's reason.
    ///   - reviewer: who decides, recorded as the history line's worker (the OS user).
    public func returnToSender(_ ids: [String], reason: String, reviewer: String,
                               now: @Sendable () -> Date = Date.init) async throws -> Report {
        let (checked, outcomes, refused) = try await checkAndRecord(ids, .returnToSender(reason: reason), reviewer: reviewer, at: now())
        if let refused { return refused }
        var report = Report()
        for entry in checked {
            switch entry.step {
            case .decide(let stage):
                switch outcomes[entry.id] {
                case .applied?: report.results.append((entry.id, .returned(from: stage)))
                // Someone else returned it a moment ago: the same outcome.
                case .duplicate?: report.results.append((entry.id, .alreadyReturned(from: stage)))
                default: report.results.append((entry.id, .refused(try await changedMeanwhile(entry.id))))
                }
            case .alreadyReturned(let stage):
                report.results.append((entry.id, .alreadyReturned(from: stage)))
            case .alreadyReleased, .refused:
                // A return never plans these (refusals were returned above).
                report.results.append((entry.id, .untouched))
            }
        }
        return report
    }

    /// Sends held parcels on (steps 1 to 3).
    ///
    /// - Parameters:
    ///   - ids: parcel ids; repeats count once.
    ///   - note: why, checked by ``ReviewText``; recorded in the history. Optional.
    ///   - reviewer: who decides, recorded as the history line's worker (the OS user).
    ///   - publisher: a channel with confirms enabled, or a ``ReconnectingPublisher``.
    public func release(_ ids: [String], note: String?, reviewer: String, publisher: any ConfirmedPublishing,
                        topology: ParcelTopology = ParcelTopology(), now: @Sendable () -> Date = Date.init) async throws -> Report {
        let time = now()
        let (checked, outcomes, refused) = try await checkAndRecord(ids, .release(note: note), reviewer: reviewer, at: time)
        if let refused { return refused }
        var results: [String: Result] = [:]
        var publishing: [(id: String, from: Stage, to: Stage, task: TaskEnvelope, fresh: Bool, now: ParcelStatus)] = []
        for entry in checked {
            let from: Stage
            let fresh: Bool
            switch entry.step {
            case .decide(let stage):
                guard let outcome = outcomes[entry.id], outcome == .applied || outcome == .duplicate else {
                    results[entry.id] = .refused(try await changedMeanwhile(entry.id))
                    continue
                }
                // Duplicate: someone else released it a moment ago; its task is sent all the same.
                (from, fresh) = (stage, outcome == .applied)
            case .alreadyReleased(let stage, let republish):
                guard republish else {
                    // It went on since: nothing to send again.
                    results[entry.id] = .alreadyReleased(from: stage, to: ParcelProgress.releaseTarget(stage), republished: false,
                                                         now: entry.record?.status ?? .submitted)
                    continue
                }
                (from, fresh) = (stage, false)
            case .alreadyReturned, .refused:
                results[entry.id] = .untouched  // a release never plans these (refusals were returned above)
                continue
            }
            let target = ParcelProgress.releaseTarget(from)
            // Read again: the release's own history line dates the released stage's payload.
            let history = try await store.history(entry.id)
            guard let record = entry.record, let parcel = record.parcel else {
                results[entry.id] = .refused("its personal data was erased meanwhile, so no task can be sent on")
                continue
            }
            let task = HoldReview.releasedTask(parcel, submittedAt: record.submittedAt, heldAt: from, history: history, now: time)
            publishing.append((entry.id, from, target, task, fresh, .queued(target)))
        }
        if !publishing.isEmpty {
            let errors = await publisher.publish(contentsOf: publishing.map { topology.stageTask($0.task) })
            for (entry, error) in zip(publishing, errors) {
                if let error {
                    results[entry.id] = .notPublished(from: entry.from, to: entry.to, error: "\(error)")
                } else if entry.fresh {
                    results[entry.id] = .released(from: entry.from, to: entry.to)
                } else {
                    results[entry.id] = .alreadyReleased(from: entry.from, to: entry.to, republished: true, now: entry.now)
                }
            }
        }
        var report = Report()
        report.results = checked.map { ($0.id, results[$0.id] ?? .untouched) }
        return report
    }

    private typealias Checked = (id: String, step: HoldReview.Step, record: ParcelRecord?)

    /// Steps 1 and 2: the batch's steps, the store's outcome for each decided parcel, or the report of
    /// a refused batch (nothing recorded).
    private func checkAndRecord(_ ids: [String], _ decision: HoldReview.Decision, reviewer: String,
                                at time: Date) async throws -> ([Checked], [String: TransitionOutcome], Report?) {
        var checked: [Checked] = []
        for id in HoldReview.distinct(ids) {
            let record = try await store.record(id)
            let history = record == nil ? [] : try await store.history(id)
            checked.append((id, HoldReview.step(decision, record: record, history: history), record))
        }
        if checked.contains(where: { $0.step.isRefused }) {
            var report = Report()
            report.batchRefused = true
            report.results = checked.map { entry in
                if case .refused(let why) = entry.step { return (entry.id, .refused(why)) }
                return (entry.id, .untouched)
            }
            return (checked, [:], report)
        }
        let changes = checked.compactMap { entry -> StatusChange? in
            guard case .decide(let stage) = entry.step else { return nil }
            return StatusChange(entry.id, decision.transition(at: stage), worker: reviewer, at: time)
        }
        var outcomes: [String: TransitionOutcome] = [:]
        if !changes.isEmpty {
            for (change, outcome) in zip(changes, try await store.apply(changes)) { outcomes[change.parcelID] = outcome }
        }
        return (checked, outcomes, nil)
    }

    private func changedMeanwhile(_ id: String) async throws -> String {
        let status = try await store.record(id)?.status
        return "it changed while this ran: it is \(status.map { "\($0)" } ?? "gone") now; nothing was done to it"
    }
}
