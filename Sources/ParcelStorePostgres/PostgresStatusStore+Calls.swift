import Foundation
import ParcelCore
import PostgresNIO
import Synchronization

// The status store calls: submits, batches of changes (read, computed by the shared rules, written only
// over rows unchanged since), and the reads of one parcel. Lifecycle and plumbing: PostgresStatusStore.swift.

extension PostgresStatusStore {
    public func submit(_ parcels: [Parcel], at time: Date) async throws(StatusStoreError) -> SubmitOutcome {
        let operation = "submit \(parcels.count) parcel(s)"
        guard !parcels.isEmpty else { return SubmitOutcome() }
        return try await perform(operation) {
            // Each id once; a later copy in the same batch is reported as existing, like a re-run.
            var firstJSON: [String: String] = [:]
            var unique: [Parcel] = []
            var repeated: [Parcel] = []
            for parcel in parcels {
                if firstJSON[parcel.id] == nil {
                    firstJSON[parcel.id] = TaskEnvelope.encode(parcel)
                    unique.append(parcel)
                } else {
                    repeated.append(parcel)
                }
            }
            let ids = unique.map(\.id)
            let query = Self.query(PostgresSQL.submit) {
                $0.append(ids)
                $0.append(ids.map { firstJSON[$0]! })
                $0.append(time.unixMilliseconds)
            }
            var outcome = SubmitOutcome()
            var stored: [String: (status: ParcelStatus, json: String, erased: Bool)] = [:]
            var raced: [String] = []
            for try await row in try await client.query(query, logger: logger) {
                let (id, created, state, stage, stagesDone, attempts, lastError, json, erased) = try row.decode(
                    (String, Bool, String?, String?, Int?, Int?, String?, String?, Bool?).self)
                if created {
                    outcome.created.append(id)
                    stored[id] = (.submitted, firstJSON[id]!, false)
                } else if let state {
                    let progress = try ParcelProgress(state: state, stage: stage, stagesDone: stagesDone ?? 0,
                                                      attempts: attempts ?? 0, lastError: lastError, parcelID: id,
                                                      operation: operation)
                    stored[id] = (progress.status, json ?? "", erased ?? false)
                } else {
                    raced.append(id)
                }
            }
            // Inserted by another submitter while this statement ran: read now that it has committed.
            if !raced.isEmpty {
                for (id, row) in try await progress(of: raced, operation: operation) {
                    stored[id] = (row.progress.status, row.parcelJSON, row.erased)
                }
            }
            for parcel in unique where !outcome.created.contains(parcel.id) {
                guard let existing = stored[parcel.id] else {
                    throw StatusStoreError(operation, "parcel \(parcel.id) was neither inserted nor found")
                }
                outcome.existing[parcel.id] = existing.status
                if try Self.conflicts(parcel, json: firstJSON[parcel.id]!, with: existing, operation: operation) {
                    outcome.conflicting.insert(parcel.id)
                }
            }
            for parcel in repeated {
                let existing = stored[parcel.id]!
                outcome.existing[parcel.id] = existing.status
                if try Self.conflicts(parcel, json: TaskEnvelope.encode(parcel), with: existing, operation: operation) {
                    outcome.conflicting.insert(parcel.id)
                }
            }
            return outcome
        }
    }

    /// Whether `parcel` differs from the stored copy. Equal JSON is the common case of a re-run file;
    /// an erased parcel has no details left to compare.
    private static func conflicts(_ parcel: Parcel, json: String, with stored: (status: ParcelStatus, json: String, erased: Bool),
                                  operation: String) throws(StatusStoreError) -> Bool {
        guard stored.json != json, !stored.erased else { return false }
        return try Parcel(storedJSON: stored.json, operation: operation) != parcel
    }

    public func apply(_ changes: [StatusChange]) async throws(StatusStoreError) -> [TransitionOutcome] {
        let operation = StatusChange.operation(changes)
        guard !changes.isEmpty else { return [] }
        return try await perform(operation) {
            var ids: [String] = []
            var seen = Set<String>()
            for change in changes where seen.insert(change.parcelID).inserted { ids.append(change.parcelID) }
            // A worker's batch was checked a moment ago (check(_:)): start from what that read, and
            // read only when it did not see them all. The write verifies every row it rests on.
            var read = recentRows.rows(ids)
            var remembered = read != nil
            for _ in 1...Self.maxApplyRounds {
                if read == nil {
                    read = try await progress(of: ids, operation: operation)
                    remembered = false
                }
                let rows = read!
                let batch = AppliedBatch(changes, from: rows)
                guard !batch.changed.isEmpty else {
                    // Nothing to write, so nothing verifies the rows: the outcomes must rest on a read.
                    if !remembered { return batch.outcomes }
                    read = nil
                    continue
                }
                do {
                    if try await write(batch, read: rows) {
                        recentRows.remember(batch.changed.map { ($0.parcelID, $0.row) })
                        return batch.outcomes
                    }
                } catch where Self.isTransient(error) {
                    logger.debug("a store write gave way to another; computing it again",
                                 metadata: [LogKey.error: "\(Self.describe(error))"])
                }
                // A row changed since it was read (by another writer): read again and compute again.
                recomputedBatches.add(1, ordering: .relaxed)
                read = nil
            }
            throw StatusStoreError(operation, "other writers kept changing these parcels; gave up after \(Self.maxApplyRounds) rounds")
        }
    }

    /// Writes the batch if every parcel it read still holds what it read; false if not.
    private func write(_ batch: AppliedBatch<StoredRow>, read: [String: StoredRow]) async throws -> Bool {
        let readIDs = Array(read.keys)
        let before = readIDs.map { read[$0]! }
        let after = batch.changed.map(\.row)
        let events = batch.events
        let query = Self.query(PostgresSQL.applyIfUnchanged) {
            $0.append(readIDs)
            $0.appendProgress(of: before)
            $0.append(batch.changed.map(\.parcelID))
            $0.appendProgress(of: after)
            $0.append(batch.changed.map(\.at))
            $0.append(events.map(\.parcelID))
            $0.append(events.map(\.kind.rawValue))
            $0.append(NullableArray.texts(events.map { $0.stage?.rawValue }))
            $0.append(NullableArray.integers(events.map { $0.attempt.map(Int64.init) }))
            $0.append(NullableArray.texts(events.map(\.detail)))
            $0.append(NullableArray.texts(events.map(\.worker)))
            $0.append(events.map(\.at.unixMilliseconds))
        }
        for try await (wrote, updated, appended) in try await client.execute(ApplyIfUnchanged(bindings: query.binds), logger: logger) {
            guard wrote else {
                recentRows.forget(readIDs)
                return false
            }
            guard updated == batch.changed.count, appended == events.count else {
                throw StatusStoreError("apply", "wrote \(updated) of \(batch.changed.count) rows and \(appended) of \(events.count) history lines")
            }
            return true
        }
        throw StatusStoreError("apply", "the write returned no row")
    }

    public func record(_ parcelID: String) async throws(StatusStoreError) -> ParcelRecord? {
        let operation = "read parcel \(parcelID)"
        return try await perform(operation) {
            let query = Self.query(PostgresSQL.selectRecord) { $0.append(parcelID) }
            for try await row in try await client.query(query, logger: logger) {
                let (state, stage, stagesDone, attempts, lastError, json, submittedAt, updatedAt, erasedAt) = try row.decode(
                    (String, String?, Int, Int, String?, String, Int64, Int64, Int64?).self)
                let progress = try ParcelProgress(state: state, stage: stage, stagesDone: stagesDone, attempts: attempts,
                                                  lastError: lastError, parcelID: parcelID, operation: operation)
                if let erasedAt {
                    return ParcelRecord(erasedParcel: parcelID, progress: progress, submittedAt: Date(milliseconds: submittedAt),
                                        updatedAt: Date(milliseconds: updatedAt), lastError: lastError,
                                        erasedAt: Date(milliseconds: erasedAt))
                }
                return ParcelRecord(parcel: try Parcel(storedJSON: json, operation: operation), progress: progress,
                                    submittedAt: Date(milliseconds: submittedAt), updatedAt: Date(milliseconds: updatedAt),
                                    lastError: lastError)
            }
            return nil
        }
    }

    public func check(_ parcels: [Parcel]) async throws(StatusStoreError) -> [String: ParcelCheck] {
        let operation = "check \(parcels.count) parcel(s)"
        guard !parcels.isEmpty else { return [:] }
        return try await perform(operation) {
            // The first copy of an id is the one checked, as in every store.
            var ids: [String] = []
            var jsons: [String] = []
            var seen = Set<String>()
            for parcel in parcels where seen.insert(parcel.id).inserted {
                ids.append(parcel.id)
                jsons.append(TaskEnvelope.encode(parcel))
            }
            let query = Self.query(PostgresSQL.check) {
                $0.append(ids)
                $0.append(jsons)
            }
            var checks: [String: ParcelCheck] = [:]
            var read: [(String, StoredRow)] = []
            checks.reserveCapacity(ids.count)
            read.reserveCapacity(ids.count)
            for try await (id, state, stage, stagesDone, attempts, lastError, same) in try await client.execute(
                CheckParcels(bindings: query.binds), logger: logger) {
                let progress = try ParcelProgress(state: state, stage: stage, stagesDone: stagesDone, attempts: attempts,
                                                  lastError: lastError, parcelID: id, operation: operation)
                checks[id] = ParcelCheck(progress: progress, sameParcel: same)
                read.append((id, StoredRow(progress: progress, lastError: lastError)))
            }
            recentRows.remember(read)
            return checks
        }
    }

    public func history(_ parcelID: String) async throws(StatusStoreError) -> [ParcelEvent] {
        let operation = "read the history of parcel \(parcelID)"
        return try await perform(operation) {
            let query = Self.query(PostgresSQL.selectHistory) { $0.append(parcelID) }
            var events: [ParcelEvent] = []
            for try await row in try await client.query(query, logger: logger) {
                let (kind, stage, attempt, detail, worker, at, _, _) = try row.decode(
                    (String, String?, Int?, String?, String?, Int64, Int, Int64).self)
                events.append(ParcelEvent(
                    parcelID: parcelID, kind: try ParcelEvent.Kind(stored: kind, parcelID: parcelID, operation: operation),
                    stage: try Stage.stored(stage, operation: operation), attempt: attempt, detail: detail, worker: worker,
                    at: Date(milliseconds: at)))
            }
            return events
        }
    }

    public func histories(_ parcelIDs: [String]) async throws(StatusStoreError) -> [String: [ParcelEvent]] {
        let operation = "read the history of \(parcelIDs.count) parcels"
        return try await perform(operation) {
            let query = Self.query(PostgresSQL.selectHistories) { $0.append(parcelIDs) }
            var histories: [String: [ParcelEvent]] = [:]
            for try await row in try await client.query(query, logger: logger) {
                let (id, kind, stage, attempt, detail, worker, at) = try row.decode(
                    (String, String, String?, Int?, String?, String?, Int64).self)
                histories[id, default: []].append(ParcelEvent(
                    parcelID: id, kind: try ParcelEvent.Kind(stored: kind, parcelID: id, operation: operation),
                    stage: try Stage.stored(stage, operation: operation), attempt: attempt, detail: detail, worker: worker,
                    at: Date(milliseconds: at)))
            }
            return histories
        }
    }

    /// The rows of these parcels, by id; ids with no row are absent.
    func progress(of parcelIDs: [String], operation: String) async throws -> [String: StoredRow] {
        let query = Self.query(PostgresSQL.selectProgress) { $0.append(parcelIDs) }
        var rows: [String: StoredRow] = [:]
        rows.reserveCapacity(parcelIDs.count)
        for try await (id, state, stage, stagesDone, attempts, lastError, json, erased) in try await client.execute(
            SelectProgress(bindings: query.binds), logger: logger) {
            rows[id] = StoredRow(
                progress: try ParcelProgress(state: state, stage: stage, stagesDone: stagesDone, attempts: attempts,
                                             lastError: lastError, parcelID: id, operation: operation),
                lastError: lastError, parcelJSON: json, erased: erased)
        }
        recentRows.remember(rows.map { ($0.key, StoredRow(progress: $0.value.progress, lastError: $0.value.lastError)) })
        return rows
    }
}

extension PostgresBindings {
    /// The rows' progress as five arrays: state, stage, stages_done, attempts, last_error.
    fileprivate mutating func appendProgress(of rows: [StoredRow]) {
        append(rows.map(\.progress.status.state.rawValue))
        append(NullableArray.texts(rows.map { $0.progress.status.stage?.rawValue }))
        append(rows.map { Int64($0.progress.stagesDone) })
        append(rows.map { Int64($0.progress.attempts) })
        append(NullableArray.texts(rows.map(\.lastError)))
    }
}

/// A parcel's row as a batch reads it.
struct StoredRow: ProgressRow, Sendable {
    var progress: ParcelProgress
    var lastError: String?
    var parcelJSON: String = ""
    var erased = false
}

/// What the store last read or wrote of each parcel it touched lately: a worker checks a batch
/// (``PostgresStatusStore/check(_:)``) just before it settles it, so the settling write can start from
/// that read instead of reading again — one round trip per batch instead of two. Only a hint: the
/// write locks every row it rests on and writes nothing if any differs, and then the batch is read
/// afresh. Bounded; forgotten whole when full.
final class RecentRows: Sendable {
    private let entries = Mutex<[String: StoredRow]>([:])
    /// A few batches of a busy worker (its tasks in flight, as checked and as written).
    static let capacity = 4_096

    /// The rows of all these parcels, or nil when any is not remembered.
    func rows(_ ids: [String]) -> [String: StoredRow]? {
        entries.withLock { entries in
            var rows: [String: StoredRow] = [:]
            rows.reserveCapacity(ids.count)
            for id in ids {
                guard let row = entries[id] else { return nil }
                rows[id] = row
            }
            return rows
        }
    }

    func remember(_ rows: [(String, StoredRow)]) {
        entries.withLock { entries in
            if entries.count + rows.count > Self.capacity { entries.removeAll(keepingCapacity: true) }
            for (id, row) in rows { entries[id] = row }
        }
    }

    func forget(_ ids: [String]) {
        entries.withLock { entries in
            for id in ids { entries[id] = nil }
        }
    }
}
