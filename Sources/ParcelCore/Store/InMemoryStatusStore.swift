import Foundation
import Synchronization

/// A ``StatusStore`` in memory, for fast tests of the worker loop and the CLI's logic. It follows the
/// same rules as the real stores and passes the same contract tests.
public final class InMemoryStatusStore: StatusStore {
    private struct State {
        var records: [String: ParcelRecord] = [:]
        var events: [ParcelEvent] = []
        /// Every history line's parcel and ``ParcelEvent/finalChange``, in order, never pruned: the cursor
        /// of ``finalChange(after:idPrefix:)`` is an index into it.
        var finalLines: [(parcelID: String, change: Int)] = []

        mutating func append(_ event: ParcelEvent) {
            events.append(event)
            finalLines.append((event.parcelID, event.finalChange))
        }
    }

    private let state = Mutex(State())

    public init() {}

    public func submit(_ parcels: [Parcel], at time: Date) async throws -> SubmitOutcome {
        state.withLock { state in
            var outcome = SubmitOutcome()
            for parcel in parcels {
                if let existing = state.records[parcel.id] {
                    outcome.existing[parcel.id] = existing.status
                    if existing.erasedAt == nil, existing.parcel != parcel { outcome.conflicting.insert(parcel.id) }
                    continue
                }
                state.records[parcel.id] = ParcelRecord(parcel: parcel, progress: .submitted, submittedAt: time,
                                                        updatedAt: time, lastError: nil)
                state.append(ParcelEvent(parcelID: parcel.id, kind: .submitted, stage: nil, at: time))
                outcome.created.append(parcel.id)
            }
            return outcome
        }
    }

    public func apply(_ changes: [StatusChange]) async throws -> [TransitionOutcome] {
        state.withLock { state in
            changes.map { change in
                let (id, transition, worker, time) = (change.parcelID, change.transition, change.worker, change.at)
                guard var record = state.records[id] else { return .unknownParcel }
                let (progress, outcome) = record.progress.applying(transition)
                guard outcome == .applied else { return outcome }
                record.progress = progress
                record.updatedAt = time
                record.lastError = transition.lastError(keeping: record.lastError)
                state.records[id] = record
                state.append(ParcelEvent(transition, parcelID: id, worker: worker, at: time))
                return .applied
            }
        }
    }

    public func record(_ parcelID: String) async throws -> ParcelRecord? {
        state.withLock { $0.records[parcelID] }
    }

    public func check(_ parcels: [Parcel]) async throws -> [String: ParcelCheck] {
        state.withLock { state in
            var found: [String: ParcelCheck] = [:]
            for parcel in parcels {
                guard let record = state.records[parcel.id] else { continue }
                // An erased parcel has nothing left to compare; it is final, so nothing will be applied.
                found[parcel.id] = ParcelCheck(progress: record.progress,
                                               sameParcel: record.erasedAt != nil || record.parcel == parcel)
            }
            return found
        }
    }

    public func history(_ parcelID: String) async throws -> [ParcelEvent] {
        state.withLock { $0.events.filter { $0.parcelID == parcelID } }
    }

    public func histories(_ parcelIDs: [String]) async throws -> [String: [ParcelEvent]] {
        state.withLock { state in
            let asked = Set(parcelIDs)
            var histories: [String: [ParcelEvent]] = [:]
            for id in asked where state.records[id] != nil { histories[id] = [] }
            for event in state.events where asked.contains(event.parcelID) { histories[event.parcelID]?.append(event) }
            return histories
        }
    }

    public func countsByState(idPrefix: String?) async throws -> [ParcelStatus.State: Int] {
        state.withLock { state in
            state.records.values.reduce(into: [:]) { counts, record in
                if idPrefix.map(record.parcelID.hasPrefix) ?? true { counts[record.status.state, default: 0] += 1 }
            }
        }
    }

    /// The cursor is the number of history lines ever written: lines removed by a prune
    /// were final parcels' lines, and a parcel's count never comes back from them.
    public func finalChange(after cursor: Int64, idPrefix: String?) async throws -> FinalChange {
        state.withLock { state in
            let new = state.finalLines.dropFirst(Int(max(0, cursor)))
            let change = new.reduce(0) { sum, line in
                sum + (idPrefix.map(line.parcelID.hasPrefix) ?? true ? line.change : 0)
            }
            return FinalChange(cursor: Int64(state.finalLines.count), change: change)
        }
    }

    public func snapshot(period: DateInterval, recentSince: Date, latestCompletions: Int?) async throws -> StoreSnapshot {
        state.withLock { state in
            func inPeriod(_ time: Date) -> Bool { time >= period.start && time < period.end }
            var snapshot = StoreSnapshot()
            var groups: [StoreSnapshot.Group: Int] = [:]
            for record in state.records.values {
                let progress = record.progress
                groups[StoreSnapshot.Group(stage: record.status.stage, state: progress.status.state,
                                           stagesDone: progress.stagesDone, count: 0), default: 0] += 1
                switch record.status {
                case .delivered:
                    if inPeriod(record.updatedAt) {
                        snapshot.deliveries.append(record.updatedAt)
                        snapshot.endToEnd.append(record.updatedAt.timeIntervalSince(record.submittedAt) * 1000)
                    }
                    if record.updatedAt >= recentSince { snapshot.recentDeliveries.append(record.updatedAt) }
                case .queued(let stage), .retrying(let stage):
                    snapshot.oldestWaiting[stage] = min(snapshot.oldestWaiting[stage] ?? record.updatedAt, record.updatedAt)
                case .held, .deadLettered:
                    snapshot.attention.append(StoreSnapshot.Attention(
                        parcelID: record.parcelID, state: record.status.state, stage: record.status.stage,
                        reason: record.lastError, at: record.updatedAt))
                default:
                    break
                }
            }
            snapshot.groups = groups.map { group, count in
                var group = group
                group.count = count
                return group
            }
            snapshot.attention.sort { ($0.at, $0.parcelID) > ($1.at, $1.parcelID) }
            snapshot.attention = Array(snapshot.attention.prefix(StoreSnapshot.attentionLimit))
            // Collection waits from the submit (``StoreSnapshot/stageLatencies``); a later stage from its
            // first "queued" line, or else from the previous stage's completion.
            var queuedAt: [String: [Stage: Date]] = [:]
            for record in state.records.values { queuedAt[record.parcelID] = [.collection: record.submittedAt] }
            for event in state.events {
                guard let stage = event.stage else { continue }
                if event.kind == .completed, let next = stage.next, queuedAt[event.parcelID]?[next] == nil {
                    queuedAt[event.parcelID, default: [:]][next] = event.at
                }
                switch event.kind {
                case .queued:
                    if queuedAt[event.parcelID]?[stage] == nil { queuedAt[event.parcelID, default: [:]][stage] = event.at }
                case .completed, .delivered:
                    if inPeriod(event.at), let start = queuedAt[event.parcelID]?[stage] {
                        snapshot.stageLatencies[stage, default: []].append(event.at.timeIntervalSince(start) * 1000)
                    }
                default:
                    break
                }
            }
            if let latestCompletions {
                // Events are kept oldest first: the latest completions are the last ones.
                snapshot.stageLatencies = snapshot.stageLatencies.mapValues { Array($0.suffix(latestCompletions)) }
            }
            return snapshot
        }
    }

    public func deliveredCount(in interval: DateInterval) async throws -> Int {
        state.withLock { state in
            state.records.values.count { record in
                record.status.state == .delivered && record.updatedAt >= interval.start && record.updatedAt < interval.end
            }
        }
    }

    public func holds(limit: Int) async throws -> HoldListing {
        state.withLock { state in
            let held = state.records.values.compactMap { record -> HoldListing.Hold? in
                guard case .held(let stage, let reason) = record.status else { return nil }
                return HoldListing.Hold(parcelID: record.parcelID, stage: stage, reason: reason, since: record.updatedAt)
            }
            let shown = held.sorted { ($0.since, $0.parcelID) < ($1.since, $1.parcelID) }.prefix(max(0, limit))
            return HoldListing(total: held.count, holds: Array(shown))
        }
    }

    public func returnedCount(in interval: DateInterval) async throws -> Int {
        state.withLock { state in
            state.records.values.count { record in
                record.status.state == .returned && record.updatedAt >= interval.start && record.updatedAt < interval.end
            }
        }
    }

    public func audit(idPrefix: String?) async throws -> StoreAudit {
        state.withLock { state in
            func chosen(_ id: String) -> Bool { idPrefix.map { id.hasPrefix($0) } ?? true }
            var audit = StoreAudit()
            var completed: [String: Set<Stage>] = [:]
            var twice: Set<String> = []
            for event in state.events where chosen(event.parcelID) {
                switch event.kind {
                case .started: audit.tasksStarted += 1
                case .retrying: audit.retries += 1
                case .completed, .delivered:
                    if let stage = event.stage, !completed[event.parcelID, default: []].insert(stage).inserted {
                        twice.insert(event.parcelID)
                    }
                default: break
                }
            }
            let records = state.records.values.filter { chosen($0.parcelID) }
            for record in records { audit.add(1, in: record.status.state, stagesDone: record.progress.stagesDone) }
            audit.appliedTwice = twice.sorted()
            audit.lastFinalAt = records.filter(\.status.isFinal).map(\.updatedAt).max()
            return audit
        }
    }

    public func erase(_ parcelIDs: [String], at time: Date) async throws -> [String: Erasure] {
        state.withLock { state in
            var outcomes: [String: Erasure] = [:]
            for id in parcelIDs where outcomes[id] == nil {
                guard var record = state.records[id] else {
                    outcomes[id] = .unknown
                    continue
                }
                if let erasedAt = record.erasedAt {
                    outcomes[id] = .alreadyErased(erasedAt)
                    continue
                }
                guard record.status.isFinal else {
                    outcomes[id] = .notFinal(record.status)
                    continue
                }
                record.parcel = nil
                record.erasedAt = time
                record.lastError = Erasure.erased(record.lastError)
                if let reason = record.status.reason {
                    record.progress.status = ParcelStatus(state: record.status.state, stage: record.status.stage,
                                                          reason: Erasure.erased(reason)) ?? record.progress.status
                }
                state.records[id] = record
                for index in state.events.indices where state.events[index].parcelID == id {
                    state.events[index].detail = Erasure.erased(state.events[index].detail)
                }
                outcomes[id] = .erased
            }
            return outcomes
        }
    }

    /// Nothing to let go of: the parcels stay readable.
    public func close() async {}

    public func prune(finishedBefore date: Date, limit: Int) async throws -> Int {
        state.withLock { state in
            let chosen = Set(state.records.values.filter { $0.status.isFinal && $0.updatedAt < date }
                .sorted { ($0.updatedAt, $0.parcelID) < ($1.updatedAt, $1.parcelID) }.prefix(limit).map(\.parcelID))
            for id in chosen { state.records[id] = nil }
            state.events.removeAll { chosen.contains($0.parcelID) }
            return chosen.count
        }
    }
}
