import Foundation

/// Where every parcel's status and history are kept: SQLite on one machine, PostgreSQL across many.
///
/// All stores follow the same rules (``ParcelProgress/applying(_:)``) and pass the same contract
/// tests. Writes are transactions: a batch is recorded whole or not at all.
public protocol StatusStore: Sendable {
    /// Records new parcels as submitted, in one transaction. Ids that exist already are left alone
    /// and reported, so a re-run file creates nothing twice.
    func submit(_ parcels: [Parcel], at time: Date) async throws -> SubmitOutcome

    /// Applies each change in order, all in one transaction; returns one outcome per change. Only
    /// applied transitions are appended to the history. Batching many parcels' changes into one call
    /// is what makes a busy worker fast: one commit instead of one per task.
    func apply(_ changes: [StatusChange]) async throws -> [TransitionOutcome]

    /// The parcel's record, or nil when no parcel has that id.
    func record(_ parcelID: String) async throws -> ParcelRecord?

    /// Where each of these parcels stands, and whether this copy of it is the one submitted, read
    /// without writing (a parcel the store does not know is left out): a worker checks a batch of
    /// tasks with this before running them. A task's parcel comes from whoever could publish it; the
    /// store's copy is what was submitted.
    func check(_ parcels: [Parcel]) async throws -> [String: ParcelCheck]

    /// The parcel's history, oldest first.
    func history(_ parcelID: String) async throws -> [ParcelEvent]

    /// Each of these parcels' history, oldest first, in one read (a parcel the store does not know is
    /// absent): what an open-loop load test reads at its end, where a read per parcel cost a thread hop
    /// (SQLite) or a round trip (PostgreSQL) each.
    func histories(_ parcelIDs: [String]) async throws -> [String: [ParcelEvent]]

    /// How many parcels are in each state: all of them, or those whose id starts with `idPrefix` (one
    /// load test's parcels in a shared store).
    func countsByState(idPrefix: String?) async throws -> [ParcelStatus.State: Int]

    /// How many of the parcels whose id starts with `idPrefix` (all when nil) became final in the history
    /// lines written after `cursor` (0: from the start), and the cursor past them (``FinalChange``). Reads
    /// only those lines: a poller's cost follows what changed, not the size of the store.
    ///
    /// Lines are numbered as they are written. In SQLite writes are serialized, so a line with a lower
    /// number is never seen later. PostgreSQL numbers lines before its transaction commits: a line written
    /// by a transaction that commits after one with higher numbers is missed, so the sum of the changes can
    /// fall short of the truth (never exceed it). A caller that must be exact checks with
    /// ``countsByState(idPrefix:)`` when the sum stops moving.
    func finalChange(after cursor: Int64, idPrefix: String?) async throws -> FinalChange

    /// Everything `parcelctl report` and the dashboard need from the store, for deliveries and
    /// completions within `period` (and deliveries since `recentSince`), in one read. Stage latencies
    /// come from at most `latestCompletions` of each stage's completions in the period, the latest
    /// (the report's: ``StoreSnapshot/latencySample``), or from every one when nil (a load test's
    /// audit, which must count every parcel).
    func snapshot(period: DateInterval, recentSince: Date, latestCompletions: Int?) async throws -> StoreSnapshot

    /// Parcels delivered within `interval`: cheap enough for a worker to read every few seconds.
    func deliveredCount(in interval: DateInterval) async throws -> Int

    /// The parcels held for review, longest held first: at most `limit` of them (0 for none, only
    /// the count), and how many are held in all (`parcelctl holds`, the held gauge).
    func holds(limit: Int) async throws -> HoldListing

    /// Parcels returned to their senders within `interval` (`parcelctl return`), for the period gauge.
    func returnedCount(in interval: DateInterval) async throws -> Int

    /// What a load test checks its verdict against, for the parcels whose id starts with `idPrefix`
    /// (all when nil): where they are, stages applied twice, tasks run, retries, and when the last of
    /// them became final.
    func audit(idPrefix: String?) async throws -> StoreAudit

    /// Removes the personal data of these parcels — the names, the relation, the facility, the
    /// reasons and errors in their record and history (they may quote them) — in one transaction,
    /// keeping the anonymous rest: state, stages, attempts, times, so every count stays true. Only a
    /// final parcel can be erased: one still on its way needs its recipient. See ``Erasure``.
    func erase(_ parcelIDs: [String], at time: Date) async throws -> [String: Erasure]

    /// Removes up to `limit` parcels that became final before `date`, with their history, in one
    /// transaction; returns how many it removed (call again until it returns 0). A parcel still on its
    /// way is never removed, however old.
    func prune(finishedBefore date: Date, limit: Int) async throws -> Int

    /// Lets go of the store's connections once the work with it is done; later calls fail.
    func close() async
}

/// The history, checked: what ``StatusStore/audit()`` finds.
/// What ``StatusStore/check(_:)`` found for one parcel.
public struct ParcelCheck: Sendable, Hashable {
    public var progress: ParcelProgress
    /// False when the copy asked about differs from the submitted one: another recipient, facility,
    /// contents or sender.
    public var sameParcel: Bool

    public init(progress: ParcelProgress, sameParcel: Bool) {
        self.progress = progress
        self.sameParcel = sameParcel
    }
}

public struct StoreAudit: Sendable, Hashable {
    /// The parcels by state.
    public var counts: [ParcelStatus.State: Int] = [:]
    /// Parcels with a stage completed more than once (must be none: every stage is applied once).
    public var appliedTwice: [String] = []
    /// Attempts started at any stage (each a task a worker ran).
    public var tasksStarted = 0
    /// Retries recorded.
    public var retries = 0
    /// When the last parcel became final (delivered, held, dead-lettered or returned); nil if none is.
    public var lastFinalAt: Date?
    /// Parcels past each stage (their stages done reach beyond it); stages none passed are absent.
    /// Each of them completed the stage once, so the stage's latencies must count as many: the load
    /// test checks it. (A parcel a person released at a stage passed it without a completion.)
    public var passed: [Stage: Int] = [:]

    public init() {}

    /// Counts `count` parcels in `state` with `stagesDone` stages done, for ``counts`` and ``passed``:
    /// every store's audit reads its parcels grouped so.
    public mutating func add(_ count: Int, in state: ParcelStatus.State, stagesDone: Int) {
        guard count > 0 else { return }
        counts[state, default: 0] += count
        for stage in Stage.allCases where stage.index < stagesDone { passed[stage, default: 0] += count }
    }
}

extension StatusStore {
    /// The snapshot with every completion's latency (the load test's, and tests').
    public func snapshot(period: DateInterval, recentSince: Date) async throws -> StoreSnapshot {
        try await snapshot(period: period, recentSince: recentSince, latestCompletions: nil)
    }

    /// How many parcels are in each state.
    public func countsByState() async throws -> [ParcelStatus.State: Int] {
        try await countsByState(idPrefix: nil)
    }

    /// Applies one transition to each parcel, in one transaction; one outcome per id, in order.
    public func apply(_ transition: Transition, to parcelIDs: [String], worker: String?,
                      at time: Date) async throws -> [TransitionOutcome] {
        try await apply(parcelIDs.map { StatusChange($0, transition, worker: worker, at: time) })
    }

    public func apply(_ transition: Transition, to parcelID: String, worker: String? = nil,
                      at time: Date = Date()) async throws -> TransitionOutcome {
        try await apply([StatusChange(parcelID, transition, worker: worker, at: time)])[0]
    }
}

/// One transition for one parcel, with who made it and when.
public struct StatusChange: Sendable, Hashable {
    public var parcelID: String
    public var transition: Transition
    public var worker: String?
    public var at: Date

    public init(_ parcelID: String, _ transition: Transition, worker: String? = nil, at: Date = Date()) {
        self.parcelID = parcelID
        self.transition = transition
        self.worker = worker
        self.at = at
    }
}

/// What ``StatusStore/submit(_:at:)`` did.
public struct SubmitOutcome: Sendable, Hashable {
    /// Ids recorded now, in input order.
    public var created: [String]
    /// Ids that existed already, with their current status.
    public var existing: [String: ParcelStatus]
    /// Those of `existing` whose stored details differ from the ones given (the stored ones are kept).
    public var conflicting: Set<String>

    public init(created: [String] = [], existing: [String: ParcelStatus] = [:], conflicting: Set<String> = []) {
        self.created = created
        self.existing = existing
        self.conflicting = conflicting
    }
}

/// A parcel's row in the store.
public struct ParcelRecord: Sendable, Hashable {
    public var parcelID: String
    /// The parcel as submitted; nil once its personal data was erased (``StatusStore/erase(_:at:)``).
    public var parcel: Parcel?
    public var progress: ParcelProgress
    public var submittedAt: Date
    public var updatedAt: Date
    /// The last retry's error, or the hold or dead-letter reason.
    public var lastError: String?
    /// When the parcel's personal data was erased.
    public var erasedAt: Date?

    public init(parcel: Parcel, progress: ParcelProgress, submittedAt: Date, updatedAt: Date, lastError: String?) {
        self.parcelID = parcel.id
        self.parcel = parcel
        self.progress = progress
        self.submittedAt = submittedAt
        self.updatedAt = updatedAt
        self.lastError = lastError
    }

    /// The record of a parcel whose personal data was erased at `erasedAt`.
    public init(erasedParcel parcelID: String, progress: ParcelProgress, submittedAt: Date, updatedAt: Date,
                lastError: String?, erasedAt: Date) {
        self.parcelID = parcelID
        self.progress = progress
        self.submittedAt = submittedAt
        self.updatedAt = updatedAt
        self.lastError = lastError
        self.erasedAt = erasedAt
    }

    public var status: ParcelStatus { progress.status }
}

/// One line of a parcel's history (the append-only events table).
public struct ParcelEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        case submitted, queued, started, completed, retrying, held, delivered
        case deadLettered = "dead_lettered"
        /// A person released a held parcel (`parcelctl release`); the detail is their note.
        case released
        /// A person returned a held parcel to its sender (`parcelctl return`); the detail is the reason.
        case returned
    }

    public var parcelID: String
    public var kind: Kind
    public var stage: Stage?
    public var attempt: Int?
    /// The error of a retry, the reason of a hold, dead letter or return, a release's note.
    public var detail: String?
    /// Which worker did it (host and process), when a worker did; the OS user who released or
    /// returned a held parcel.
    public var worker: String?
    public var at: Date

    public init(parcelID: String, kind: Kind, stage: Stage?, attempt: Int? = nil, detail: String? = nil,
                worker: String? = nil, at: Date) {
        self.parcelID = parcelID
        self.kind = kind
        self.stage = stage
        self.attempt = attempt
        self.detail = detail
        self.worker = worker
        self.at = at
    }
}

extension ParcelEvent {
    /// The history line an applied transition adds; completing delivery reads as "delivered".
    public init(_ transition: Transition, parcelID: String, worker: String?, at time: Date) {
        switch transition {
        case .queued(let stage):
            self.init(parcelID: parcelID, kind: .queued, stage: stage, worker: worker, at: time)
        case .started(let stage, let attempt):
            self.init(parcelID: parcelID, kind: .started, stage: stage, attempt: attempt, worker: worker, at: time)
        case .completed(let stage):
            self.init(parcelID: parcelID, kind: stage == .delivery ? .delivered : .completed, stage: stage,
                      worker: worker, at: time)
        case .retrying(let stage, let attempt, let error):
            self.init(parcelID: parcelID, kind: .retrying, stage: stage, attempt: attempt, detail: error,
                      worker: worker, at: time)
        case .held(let stage, let reason):
            self.init(parcelID: parcelID, kind: .held, stage: stage, detail: reason, worker: worker, at: time)
        case .released(let stage, let note):
            self.init(parcelID: parcelID, kind: .released, stage: stage, detail: note, worker: worker, at: time)
        case .returned(let stage, let reason):
            self.init(parcelID: parcelID, kind: .returned, stage: stage, detail: reason, worker: worker, at: time)
        case .deadLettered(let stage, let reason):
            self.init(parcelID: parcelID, kind: .deadLettered, stage: stage, detail: reason, worker: worker, at: time)
        case .replayed(let stage):
            // Queued again, by a person: a `queued` line that says so (the event kinds are a closed set).
            self.init(parcelID: parcelID, kind: .queued, stage: stage, detail: Self.replayedDetail, worker: worker, at: time)
        }
    }

    /// The detail of the `queued` event a replay adds.
    public static let replayedDetail = "replayed from the dead-letter queue"
}

/// A store that failed: which operation, and the database's own words.
public struct StatusStoreError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var message: String

    public init(_ operation: String, _ message: String) {
        self.operation = operation
        self.message = message
    }

    public var description: String { "status store: \(operation): \(message)" }
}
