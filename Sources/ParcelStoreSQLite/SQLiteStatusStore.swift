import Foundation
import ParcelCore

/// The embedded ``StatusStore``: one SQLite file in WAL mode, shared by every worker process on the
/// machine (`PARCELFLOW_STORE=sqlite:PATH`).
///
/// ```swift
/// let store = try await SQLiteStatusStore.open(path: "/var/lib/parcelflow/status.db")
/// let outcome = try await store.apply(.completed(.packaging), to: "P-2026-000001", worker: "host/4242")
/// ```
///
/// Every call runs on a dispatch queue the store owns (the actor's executor), never on Swift's
/// cooperative pool: a write may wait up to the busy timeout for another process's transaction.
/// Every write is one `BEGIN IMMEDIATE` transaction, so a batch is recorded whole or not at all, and
/// every failure is a ``StatusStoreError`` carrying SQLite's message.
public actor SQLiteStatusStore: StatusStore {
    /// The database file.
    public nonisolated let path: String
    let executor: SerialQueueExecutor
    let connection: SQLiteConnection

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    /// How long a write waits for another process's transaction before failing: long enough for
    /// any batch of a December's worth of parcels.
    public static let defaultBusyTimeout: Duration = .seconds(10)

    private init(path: String) {
        self.path = path
        executor = SerialQueueExecutor(label: "parcelflow.sqlite")
        connection = SQLiteConnection(path: path)
    }

    /// Opens the store at `path`, creating the file when it is missing and bringing its schema up to
    /// date (see `schemas/sql/sqlite.sql`).
    ///
    /// Throws ``StatusStoreError`` when the file cannot be opened or created, is not an SQLite
    /// database, or was migrated by a newer ParcelFlow.
    public static func open(path: String, busyTimeout: Duration = defaultBusyTimeout) async throws(StatusStoreError) -> SQLiteStatusStore {
        try await open(path: path, busyTimeout: busyTimeout, migrate: true)
    }

    /// Opens the store; `migrate: false` leaves the schema alone (for tests that inspect a bare file).
    package static func open(path: String, busyTimeout: Duration = defaultBusyTimeout,
                             migrate: Bool) async throws(StatusStoreError) -> SQLiteStatusStore {
        let store = SQLiteStatusStore(path: path)
        try await store.prepare(busyTimeout: busyTimeout, migrate: migrate)
        return store
    }

    private func prepare(busyTimeout: Duration, migrate: Bool) throws(StatusStoreError) {
        executor.assertOnQueue()
        try connection.open(busyTimeoutMilliseconds: Int32(clamping: busyTimeout.wholeMilliseconds))
        if migrate { try SQLiteMigrations.migrate(connection, now: Date().unixMilliseconds) }
    }

    /// Closes the database; later calls fail with "the store is closed". Dropping the last reference
    /// closes it too.
    public func close() {
        connection.close()
    }

    public func submit(_ parcels: [Parcel], at time: Date) throws(StatusStoreError) -> SubmitOutcome {
        executor.assertOnQueue()
        let operation = "submit \(parcels.count) parcel(s)"
        let at = time.unixMilliseconds
        return try connection.transaction(operation) { () throws(StatusStoreError) -> SubmitOutcome in
            var outcome = SubmitOutcome()
            for parcel in parcels {
                let json = TaskEnvelope.encode(parcel)
                let inserted = try connection.execute(SQL.insertParcel, [.text(parcel.id), .text(json), .integer(at), .integer(at)],
                                                      operation: operation)
                if inserted == 1 {
                    // The history's "submitted" line is the row's own submitted_at (see SQL.selectHistory):
                    // one row written per parcel submitted instead of two.
                    outcome.created.append(parcel.id)
                    continue
                }
                guard let stored = try progress(of: parcel.id, operation: operation) else {
                    throw StatusStoreError(operation, "parcel \(parcel.id) was neither inserted nor found")
                }
                outcome.existing[parcel.id] = stored.progress.status
                // Equal JSON is the common case of a re-run file; otherwise compare what it means.
                // An erased parcel has no details left to compare: submitting its id again changes nothing.
                if stored.parcelJSON != json, try !isErased(parcel.id, operation: operation),
                    try Parcel(storedJSON: stored.parcelJSON, operation: operation) != parcel {
                    outcome.conflicting.insert(parcel.id)
                }
            }
            return outcome
        }
    }

    public func apply(_ changes: [StatusChange]) throws(StatusStoreError) -> [TransitionOutcome] {
        executor.assertOnQueue()
        let operation = StatusChange.operation(changes)
        return try connection.transaction(operation) { () throws(StatusStoreError) -> [TransitionOutcome] in
            // One read for the whole batch; later changes to the same parcel see the earlier ones.
            var current = try progress(of: changes.map(\.parcelID), operation: operation)
            var outcomes: [TransitionOutcome] = []
            outcomes.reserveCapacity(changes.count)
            // Each changed parcel's row is written once, with where it ends and when: a worker's batch
            // holds two changes per task ("started" and the outcome), and a row update is the dear part.
            var changed: [(parcelID: String, at: Int64)] = []
            var changedAt: [String: Int] = [:]
            for change in changes {
                guard var stored = current[change.parcelID] else {
                    outcomes.append(.unknownParcel)
                    continue
                }
                // The same pure rules as every store; only an applied transition writes anything.
                let (next, outcome) = stored.progress.applying(change.transition)
                outcomes.append(outcome)
                guard outcome == .applied else { continue }
                stored.lastError = change.transition.lastError(keeping: stored.lastError)
                stored.progress = next
                current[change.parcelID] = stored
                if let position = changedAt[change.parcelID] {
                    changed[position].at = change.at.unixMilliseconds
                } else {
                    changedAt[change.parcelID] = changed.count
                    changed.append((change.parcelID, change.at.unixMilliseconds))
                }
                let event = ParcelEvent(change.transition, parcelID: change.parcelID, worker: change.worker, at: change.at)
                try connection.execute(SQL.insertEvent, event.columns, operation: operation)
            }
            for (parcelID, at) in changed {
                let stored = current[parcelID]!
                try connection.execute(SQL.updateProgress,
                                       StoredProgress.columns(stored.progress, lastError: stored.lastError, at: at,
                                                              parcelID: parcelID),
                                       operation: operation)
            }
            return outcomes
        }
    }

    public func record(_ parcelID: String) throws(StatusStoreError) -> ParcelRecord? {
        executor.assertOnQueue()
        let operation = "read parcel \(parcelID)"
        var record: ParcelRecord?
        try connection.execute(SQL.selectRecord, [.text(parcelID)], operation: operation) { row throws(StatusStoreError) in
            let stored = try StoredProgress(row, parcelID: parcelID, operation: operation)
            let (submittedAt, updatedAt) = (Date(milliseconds: row.integer(6)), Date(milliseconds: row.integer(7)))
            if row.isNull(8) {
                record = ParcelRecord(parcel: try Parcel(storedJSON: stored.parcelJSON, operation: operation),
                                      progress: stored.progress, submittedAt: submittedAt, updatedAt: updatedAt,
                                      lastError: stored.lastError)
            } else {
                record = ParcelRecord(erasedParcel: parcelID, progress: stored.progress, submittedAt: submittedAt,
                                      updatedAt: updatedAt, lastError: stored.lastError,
                                      erasedAt: Date(milliseconds: row.integer(8)))
            }
        }
        return record
    }

    public func check(_ parcels: [Parcel]) throws(StatusStoreError) -> [String: ParcelCheck] {
        executor.assertOnQueue()
        let operation = "check \(parcels.count) parcel(s)"
        var checks: [String: ParcelCheck] = [:]
        checks.reserveCapacity(parcels.count)
        // One snapshot for the batch; a reader in WAL mode waits for no writer. One primary-key lookup
        // per parcel through one prepared statement (see progress(of:operation:)).
        try connection.transaction(operation, readOnly: true) { () throws(StatusStoreError) in
            for parcel in parcels where checks[parcel.id] == nil {
                let values: [SQLiteValue] = [.text(parcel.id), .text(TaskEnvelope.encode(parcel))]
                try connection.execute(SQL.checkOne, values, operation: operation) { row throws(StatusStoreError) in
                    let stored = try StoredProgress(row, parcelID: parcel.id, operation: operation)
                    checks[parcel.id] = ParcelCheck(progress: stored.progress, sameParcel: row.integer(6) == 1)
                }
            }
        }
        return checks
    }

    public func history(_ parcelID: String) throws(StatusStoreError) -> [ParcelEvent] {
        executor.assertOnQueue()
        let operation = "read the history of parcel \(parcelID)"
        var events: [ParcelEvent] = []
        try connection.execute(SQL.selectHistory, [.text(parcelID)], operation: operation) { row throws(StatusStoreError) in
            events.append(try ParcelEvent(row, parcelID: parcelID, operation: operation))
        }
        return events
    }

    public func countsByState(idPrefix: String?) throws(StatusStoreError) -> [ParcelStatus.State: Int] {
        executor.assertOnQueue()
        let operation = "count parcels by state"
        var counts: [ParcelStatus.State: Int] = [:]
        // All parcels through the state index; a prefix's through the primary key's range.
        let (sql, values): (String, [SQLiteValue]) = idPrefix.map { (SQL.countByStateWithPrefix, [.text($0)]) } ?? (SQL.countByState, [])
        try connection.execute(sql, values, operation: operation) { row throws(StatusStoreError) in
            let text = row.text(0) ?? ""
            guard let state = ParcelStatus.State(rawValue: text) else {
                throw StatusStoreError(operation, "parcels have an unknown state '\(text)'")
            }
            counts[state] = Int(row.integer(1))
        }
        return counts
    }

    public func snapshot(period: DateInterval, recentSince: Date) throws(StatusStoreError) -> StoreSnapshot {
        executor.assertOnQueue()
        let operation = "read the report's figures"
        let bounds: [SQLiteValue] = [.integer(period.start.unixMilliseconds), .integer(period.end.unixMilliseconds)]
        return try connection.transaction(operation, readOnly: true) { () throws(StatusStoreError) -> StoreSnapshot in
            var snapshot = StoreSnapshot()
            try connection.execute(SQL.countGroups, operation: operation) { row throws(StatusStoreError) in
                snapshot.groups.append(StoreSnapshot.Group(
                    stage: try Self.stage(row, 0, operation), state: try Self.state(row, 1, operation),
                    stagesDone: Int(row.integer(2)), count: Int(row.integer(3))))
            }
            try connection.execute(SQL.deliveries, bounds, operation: operation) { row in
                snapshot.deliveries.append(Date(milliseconds: row.integer(0)))
                snapshot.endToEnd.append(Double(row.integer(0) - row.integer(1)))
            }
            try connection.execute(SQL.deliveries, [.integer(recentSince.unixMilliseconds), .integer(Int64.max)],
                                   operation: operation) { row in
                snapshot.recentDeliveries.append(Date(milliseconds: row.integer(0)))
            }
            try connection.execute(SQL.stageLatencies, bounds, operation: operation) { row throws(StatusStoreError) in
                guard let stage = try Self.stage(row, 0, operation), !row.isNull(1) else { return }
                snapshot.stageLatencies[stage, default: []].append(Double(row.integer(1)))
            }
            try connection.execute(SQL.oldestWaiting, operation: operation) { row throws(StatusStoreError) in
                guard let stage = try Self.stage(row, 0, operation) else { return }
                snapshot.oldestWaiting[stage] = Date(milliseconds: row.integer(1))
            }
            try connection.execute(SQL.attention, [.integer(Int64(StoreSnapshot.attentionLimit))], operation: operation) {
                row throws(StatusStoreError) in
                snapshot.attention.append(StoreSnapshot.Attention(
                    parcelID: row.text(0) ?? "", state: try Self.state(row, 1, operation),
                    stage: try Self.stage(row, 2, operation), reason: row.text(3), at: Date(milliseconds: row.integer(4))))
            }
            return snapshot
        }
    }

    public func deliveredCount(in interval: DateInterval) throws(StatusStoreError) -> Int {
        executor.assertOnQueue()
        return Int(try connection.scalarInteger(
            SQL.countDeliveries, [.integer(interval.start.unixMilliseconds), .integer(interval.end.unixMilliseconds)],
            operation: "count deliveries", cache: true))
    }

    public func audit(idPrefix: String?) throws(StatusStoreError) -> StoreAudit {
        executor.assertOnQueue()
        let operation = "audit the history"
        let prefix: [SQLiteValue] = [.text(idPrefix)]
        return try connection.transaction(operation, readOnly: true) { () throws(StatusStoreError) -> StoreAudit in
            var audit = StoreAudit()
            try connection.execute(SQL.appliedTwice, prefix, operation: operation) { row in
                audit.appliedTwice.append(row.text(0) ?? "")
            }
            try connection.execute(SQL.countEvents, prefix, operation: operation) { row in
                if row.text(0) == "started" { audit.tasksStarted = Int(row.integer(1)) } else { audit.retries = Int(row.integer(1)) }
            }
            try connection.execute(SQL.auditParcels, prefix, operation: operation) { row throws(StatusStoreError) in
                audit.counts[try Self.state(row, 0, operation)] = Int(row.integer(1))
                if !row.isNull(2) {
                    let final = Date(milliseconds: row.integer(2))
                    audit.lastFinalAt = max(audit.lastFinalAt ?? final, final)
                }
            }
            return audit
        }
    }

    private static func stage(_ row: SQLiteRow, _ column: Int32, _ operation: String) throws(StatusStoreError) -> Stage? {
        try Stage.stored(row.text(column), operation: operation)
    }

    private static func state(_ row: SQLiteRow, _ column: Int32, _ operation: String) throws(StatusStoreError) -> ParcelStatus.State {
        try ParcelStatus.State(stored: row.text(column), operation: operation)
    }

    /// The rows of these parcels, by id; ids with no row are absent.
    private func progress(of parcelIDs: [String], operation: String) throws(StatusStoreError) -> [String: StoredProgress] {
        // One primary-key lookup per id through one prepared statement: cheaper than any single query
        // over a list, for which SQLite first builds a temporary index of the list.
        var rows: [String: StoredProgress] = [:]
        rows.reserveCapacity(parcelIDs.count)
        for id in parcelIDs where rows[id] == nil {
            try connection.execute(SQL.selectProgressOfOne, [.text(id)], operation: operation) { row throws(StatusStoreError) in
                rows[id] = try StoredProgress(row, parcelID: id, operation: operation)
            }
        }
        return rows
    }

    /// The parcel's row, or nil when there is none.
    private func progress(of parcelID: String, operation: String) throws(StatusStoreError) -> StoredProgress? {
        var stored: StoredProgress?
        try connection.execute(SQL.selectProgress, [.text(parcelID)], operation: operation) { row throws(StatusStoreError) in
            stored = try StoredProgress(row, parcelID: parcelID, operation: operation)
        }
        return stored
    }
}
