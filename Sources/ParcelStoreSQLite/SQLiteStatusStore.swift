import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import ParcelCore
import Synchronization

/// The embedded ``StatusStore``: one SQLite file in WAL mode, shared by every worker process on the
/// machine (`PARCELFLOW_STORE=sqlite:PATH`), through GRDB.
///
/// ```swift
/// let store = try await SQLiteStatusStore.open(path: "/var/lib/parcelflow/status.db")
/// let outcome = try await store.apply(.completed(.packaging), to: "P-2026-000001", worker: "host/4242")
/// ```
///
/// One connection per process, a GRDB `DatabaseQueue`: every call runs on the queue's own serial
/// dispatch queue, never on Swift's cooperative pool, since a write may wait up to the busy timeout
/// for another process's transaction. Every write is one `BEGIN IMMEDIATE` transaction, so a batch is
/// recorded whole or not at all, and every failure is a ``StatusStoreError`` carrying SQLite's message.
public final class SQLiteStatusStore: StatusStore {
    /// The database file.
    public let path: String
    /// The connection; nil once closed.
    private let database: Mutex<DatabaseQueue?>

    /// How long a write waits for another process's transaction before failing: long enough for
    /// any batch of a December's worth of parcels.
    public static let defaultBusyTimeout: Duration = .seconds(10)

    private init(path: String, database: DatabaseQueue) {
        self.path = path
        self.database = Mutex(database)
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
        // Opening may wait up to the busy timeout for another process: not on the cooperative pool.
        let opened = await withCheckedContinuation { (continuation: CheckedContinuation<Result<DatabaseQueue, StatusStoreError>, Never>) in
            DispatchQueue.global(qos: .userInitiated).async {
                do {
                    continuation.resume(returning: .success(try openDatabase(path: path, busyTimeout: busyTimeout, migrate: migrate)))
                } catch {
                    continuation.resume(returning: .failure(StatusStoreError("open \(path)", error)))
                }
            }
        }
        return SQLiteStatusStore(path: path, database: try opened.get())
    }

    private static func openDatabase(path: String, busyTimeout: Duration, migrate: Bool) throws -> DatabaseQueue {
        createOwnerOnly(path)
        var configuration = Configuration()
        configuration.label = "parcelflow.sqlite"
        // How long a statement waits for another process's lock (sqlite3_busy_timeout).
        configuration.busyMode = .timeout(TimeInterval(busyTimeout.wholeMilliseconds) / 1000)
        // GRDB's defaults, kept on purpose: foreign keys on, and "double-quoted" string literals refused,
        // so a misspelt column name is an error instead of silently becoming a string.
        configuration.foreignKeysEnabled = true
        configuration.acceptsDoubleQuotedStringLiterals = false
        configuration.prepareDatabase { db in
            try enableWriteAheadLogging(db, path: path, timeout: busyTimeout)
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let database = try DatabaseQueue(path: path, configuration: configuration)
        if migrate { try SQLiteMigrations.migrate(database, now: Date().unixMilliseconds) }
        return database
    }

    /// Creates a missing database file readable and writable by its owner only: it holds names and
    /// addresses. SQLite gives the file's `-wal` and `-shm` companions the file's own mode. An existing
    /// file keeps its mode (ops may have chosen to share it with a group); `O_EXCL` leaves a file
    /// another process created a moment ago alone.
    private static func createOwnerOnly(_ path: String) {
        guard !path.isEmpty, path != ":memory:", !path.hasPrefix("file:") else { return }
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 { Glibc.close(descriptor) }
    }

    /// WAL: readers never wait for the writer, and one commit is one append to the log. With
    /// `synchronous = NORMAL` it syncs at checkpoints only: a power cut may lose the last commits,
    /// never corrupt the file. (Not GRDB's `journalMode = .wal`, which neither waits like this nor
    /// leaves an empty log alone.)
    ///
    /// The switch needs every other connection out of the file, and SQLite reports `SQLITE_BUSY` at
    /// once, without its busy handler, when another process is opening the same new file: so wait
    /// and try again, up to the busy timeout. (Seen: 11 of 1,200 processes starting in threes.)
    private static func enableWriteAheadLogging(_ db: Database, path: String, timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        var pause = 0.001
        while true {
            do {
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                guard mode?.lowercased() == "wal" else {
                    throw StatusStoreError("open \(path)", "the database cannot use write-ahead logging (journal mode \(mode ?? "unknown"))")
                }
                return
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && ContinuousClock.now < deadline {
                // Opening runs on a dispatch queue's thread: sleeping here blocks no one else.
                Thread.sleep(forTimeInterval: pause)
                pause = min(pause * 2, 0.05)
            }
        }
    }

    /// Closes the database (once what was asked before is done); later calls fail with "the store is
    /// closed". Dropping the last reference closes it too.
    public func close() async {
        guard let database = database.withLock({ database in
            defer { database = nil }
            return database
        }) else { return }
        // The last connection to close checkpoints the log into the file: wait for it, off the pool.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global(qos: .userInitiated).async {
                try? database.close()
                continuation.resume()
            }
        }
    }

    /// Runs `body` on the connection's dispatch queue (GRDB's writer queue), one call at a time.
    func access<T: Sendable>(_ operation: String,
                             _ body: @escaping @Sendable (Database) throws -> T) async throws(StatusStoreError) -> T {
        guard let database = database.withLock({ $0 }) else { throw StatusStoreError(operation, "the store is closed") }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, StatusStoreError>, Never>) in
            database.asyncWriteWithoutTransaction { db in
                do {
                    continuation.resume(returning: .success(try body(db)))
                } catch {
                    // A script that failed after its own BEGIN (only the tests' raw SQL has one) would
                    // leave its transaction open, which GRDB does not allow past the end of an access.
                    if db.isInsideTransaction { try? db.rollback() }
                    continuation.resume(returning: .failure(StatusStoreError(operation, error)))
                }
            }
        }
        return try result.get()
    }

    /// Runs `body` in a write transaction (`BEGIN IMMEDIATE`).
    func write<T: Sendable>(_ operation: String,
                            _ body: @escaping @Sendable (Database) throws -> T) async throws(StatusStoreError) -> T {
        try await access(operation) { db in try db.writeTransaction { try body(db) } }
    }

    /// Runs `body`, which only reads, in a transaction of its own: one snapshot of the database.
    func read<T: Sendable>(_ operation: String,
                           _ body: @escaping @Sendable (Database) throws -> T) async throws(StatusStoreError) -> T {
        try await access(operation) { db in try db.readTransaction { try body(db) } }
    }

    public func submit(_ parcels: [Parcel], at time: Date) async throws(StatusStoreError) -> SubmitOutcome {
        let operation = "submit \(parcels.count) parcel(s)"
        let at = time.unixMilliseconds
        return try await write(operation) { db in
            var outcome = SubmitOutcome()
            let insert = try db.cachedStatement(sql: SQL.insertParcel)
            for parcel in parcels {
                let json = TaskEnvelope.encode(parcel)
                let inserted = try insert.run([.text(parcel.id), .text(json), .integer(at), .integer(at)])
                if inserted == 1 {
                    // The history's "submitted" line is the row's own submitted_at (see SQL.selectHistory):
                    // one row written per parcel submitted instead of two.
                    outcome.created.append(parcel.id)
                    continue
                }
                guard let stored = try Self.progress(db, of: parcel.id, operation: operation) else {
                    throw StatusStoreError(operation, "parcel \(parcel.id) was neither inserted nor found")
                }
                outcome.existing[parcel.id] = stored.progress.status
                // Equal JSON is the common case of a re-run file; otherwise compare what it means.
                // An erased parcel has no details left to compare: submitting its id again changes nothing.
                if stored.parcelJSON != json, try !Self.isErased(db, parcel.id),
                    try Parcel(storedJSON: stored.parcelJSON, operation: operation) != parcel {
                    outcome.conflicting.insert(parcel.id)
                }
            }
            return outcome
        }
    }

    public func apply(_ changes: [StatusChange]) async throws(StatusStoreError) -> [TransitionOutcome] {
        let operation = StatusChange.operation(changes)
        return try await write(operation) { db in
            // One read for the whole batch; each changed parcel's row written once (AppliedBatch).
            let batch = AppliedBatch(changes, from: try Self.progress(db, of: changes.map(\.parcelID), operation: operation))
            let insertEvent = try db.cachedStatement(sql: SQL.insertEvent)
            for event in batch.events { try insertEvent.run(event.columns) }
            let updateProgress = try db.cachedStatement(sql: SQL.updateProgress)
            for (parcelID, stored, at) in batch.changed {
                try updateProgress.run(StoredProgress.columns(stored.progress, lastError: stored.lastError, at: at, parcelID: parcelID))
            }
            return batch.outcomes
        }
    }

    public func record(_ parcelID: String) async throws(StatusStoreError) -> ParcelRecord? {
        let operation = "read parcel \(parcelID)"
        return try await read(operation) { db in
            var record: ParcelRecord?
            try db.run(SQL.selectRecord, [.text(parcelID)]) { row in
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
    }

    public func check(_ parcels: [Parcel]) async throws(StatusStoreError) -> [String: ParcelCheck] {
        let operation = "check \(parcels.count) parcel(s)"
        // One snapshot for the batch; a reader in WAL mode waits for no writer. One primary-key lookup
        // per parcel through one prepared statement (see progress(_:of:operation:)).
        return try await read(operation) { db in
            var checks: [String: ParcelCheck] = [:]
            checks.reserveCapacity(parcels.count)
            let checkOne = try db.cachedStatement(sql: SQL.checkOne)
            for parcel in parcels where checks[parcel.id] == nil {
                try checkOne.run([.text(parcel.id), .text(TaskEnvelope.encode(parcel))]) { row in
                    let stored = try StoredProgress(row, parcelID: parcel.id, operation: operation)
                    checks[parcel.id] = ParcelCheck(progress: stored.progress, sameParcel: row.integer(6) == 1)
                }
            }
            return checks
        }
    }

    public func history(_ parcelID: String) async throws(StatusStoreError) -> [ParcelEvent] {
        let operation = "read the history of parcel \(parcelID)"
        return try await read(operation) { db in
            var events: [ParcelEvent] = []
            try db.run(SQL.selectHistory, [.text(parcelID)]) { row in
                events.append(try ParcelEvent(row, parcelID: parcelID, operation: operation))
            }
            return events
        }
    }

    public func histories(_ parcelIDs: [String]) async throws(StatusStoreError) -> [String: [ParcelEvent]] {
        let operation = "read the history of \(parcelIDs.count) parcels"
        return try await read(operation) { db in
            // One prepared statement run per id, in one read: as cheap per parcel as a query over a
            // list (see progress(of:)), without a thread hop each.
            var histories: [String: [ParcelEvent]] = [:]
            histories.reserveCapacity(parcelIDs.count)
            let select = try db.cachedStatement(sql: SQL.selectHistory)
            for id in parcelIDs where histories[id] == nil {
                var events: [ParcelEvent] = []
                try select.run([.text(id)]) { row in events.append(try ParcelEvent(row, parcelID: id, operation: operation)) }
                if !events.isEmpty { histories[id] = events }
            }
            return histories
        }
    }

    public func countsByState(idPrefix: String?) async throws(StatusStoreError) -> [ParcelStatus.State: Int] {
        let operation = "count parcels by state"
        // All parcels through the state index; a prefix's through the primary key's range.
        let (sql, arguments): (String, [SQLArgument]) = idPrefix.map { (SQL.countByStateWithPrefix, [.text($0)]) } ?? (SQL.countByState, [])
        return try await read(operation) { db in
            var counts: [ParcelStatus.State: Int] = [:]
            try db.run(sql, arguments) { row in
                let text = row.text(0) ?? ""
                guard let state = ParcelStatus.State(rawValue: text) else {
                    throw StatusStoreError(operation, "parcels have an unknown state '\(text)'")
                }
                counts[state] = Int(row.integer(1))
            }
            return counts
        }
    }

    public func finalChange(after cursor: Int64, idPrefix: String?) async throws(StatusStoreError) -> FinalChange {
        try await read("count the parcels that became final") { db in
            var change = FinalChange(cursor: cursor, change: 0)
            try db.run(SQL.finalChange, [.integer(cursor), .text(idPrefix), .text(ParcelEvent.replayedDetail)]) { row in
                if !row.isNull(0) { change.cursor = row.integer(0) }
                change.change = Int(row.integer(1))
            }
            return change
        }
    }

    public func snapshot(period: DateInterval, recentSince: Date,
                         latestCompletions: Int?) async throws(StatusStoreError) -> StoreSnapshot {
        let operation = "read the report's figures"
        let bounds: [SQLArgument] = [.integer(period.start.unixMilliseconds), .integer(period.end.unixMilliseconds)]
        let recent: [SQLArgument] = [.integer(recentSince.unixMilliseconds), .integer(Int64.max)]
        return try await read(operation) { db in
            var snapshot = StoreSnapshot()
            try db.run(SQL.countGroups) { row in
                snapshot.groups.append(StoreSnapshot.Group(
                    stage: try Self.stage(row, 0, operation), state: try Self.state(row, 1, operation),
                    stagesDone: Int(row.integer(2)), count: Int(row.integer(3))))
            }
            try db.run(SQL.deliveries, bounds) { row in
                snapshot.deliveries.append(Date(milliseconds: row.integer(0)))
                snapshot.endToEnd.append(Double(row.integer(0) - row.integer(1)))
            }
            try db.run(SQL.deliveries, recent) { row in
                snapshot.recentDeliveries.append(Date(milliseconds: row.integer(0)))
            }
            let selections: [[SQLArgument]] = latestCompletions.map { latest in
                Stage.allCases.map { [.text($0.rawValue), .integer(Int64(max(0, latest)))] }
            } ?? [[.null, .integer(-1)]]
            for selection in selections {
                try db.run(SQL.stageLatencies, bounds + selection) { row in
                    guard let stage = try Self.stage(row, 0, operation), !row.isNull(1) else { return }
                    snapshot.stageLatencies[stage, default: []].append(Double(row.integer(1)))
                }
            }
            try db.run(SQL.oldestWaiting) { row in
                guard let stage = try Self.stage(row, 0, operation) else { return }
                snapshot.oldestWaiting[stage] = Date(milliseconds: row.integer(1))
            }
            try db.run(SQL.attention, [.integer(Int64(StoreSnapshot.attentionLimit))]) { row in
                snapshot.attention.append(StoreSnapshot.Attention(
                    parcelID: row.text(0) ?? "", state: try Self.state(row, 1, operation),
                    stage: try Self.stage(row, 2, operation), reason: row.text(3), at: Date(milliseconds: row.integer(4))))
            }
            return snapshot
        }
    }

    public func deliveredCount(in interval: DateInterval) async throws(StatusStoreError) -> Int {
        let bounds: [SQLArgument] = [.integer(interval.start.unixMilliseconds), .integer(interval.end.unixMilliseconds)]
        return try await read("count deliveries") { db in Int(try db.integer(SQL.countDeliveries, bounds)) }
    }

    public func holds(limit: Int) async throws(StatusStoreError) -> HoldListing {
        let operation = "list the held parcels"
        let limit = Int64(min(max(0, limit), HoldListing.maxLimit))
        return try await read(operation) { db in
            var holds: [HoldListing.Hold] = []
            try db.run(SQL.holds, [.integer(limit)]) { row in
                let parcelID = row.text(0) ?? ""
                holds.append(HoldListing.Hold(parcelID: parcelID, stage: try Self.stage(row, 1, operation) ?? .inspection,
                                              reason: row.text(2) ?? "", since: Date(milliseconds: row.integer(3))))
            }
            return HoldListing(total: Int(try db.integer(SQL.countHeld)), holds: holds)
        }
    }

    public func returnedCount(in interval: DateInterval) async throws(StatusStoreError) -> Int {
        let bounds: [SQLArgument] = [.integer(interval.start.unixMilliseconds), .integer(interval.end.unixMilliseconds)]
        return try await read("count returns") { db in Int(try db.integer(SQL.countReturned, bounds)) }
    }

    public func audit(idPrefix: String?) async throws(StatusStoreError) -> StoreAudit {
        let operation = "audit the history"
        let prefix: [SQLArgument] = [.text(idPrefix)]
        return try await read(operation) { db in
            var audit = StoreAudit()
            try db.run(SQL.appliedTwice, prefix) { row in
                audit.appliedTwice.append(row.text(0) ?? "")
            }
            try db.run(SQL.countEvents, prefix) { row in
                if row.text(0) == "started" { audit.tasksStarted = Int(row.integer(1)) } else { audit.retries = Int(row.integer(1)) }
            }
            try db.run(SQL.auditParcels, prefix) { row in
                audit.add(Int(row.integer(2)), in: try Self.state(row, 0, operation), stagesDone: Int(row.integer(1)))
                if !row.isNull(3) {
                    let final = Date(milliseconds: row.integer(3))
                    audit.lastFinalAt = max(audit.lastFinalAt ?? final, final)
                }
            }
            return audit
        }
    }

    private static func stage(_ row: SQLRow, _ column: Int32, _ operation: String) throws(StatusStoreError) -> Stage? {
        try Stage.stored(row.text(column), operation: operation)
    }

    private static func state(_ row: SQLRow, _ column: Int32, _ operation: String) throws(StatusStoreError) -> ParcelStatus.State {
        try ParcelStatus.State(stored: row.text(column), operation: operation)
    }

    /// The rows of these parcels, by id; ids with no row are absent.
    private static func progress(_ db: Database, of parcelIDs: [String], operation: String) throws -> [String: StoredProgress] {
        // One primary-key lookup per id through one prepared statement: cheaper than any single query
        // over a list, for which SQLite first builds a temporary index of the list.
        var rows: [String: StoredProgress] = [:]
        rows.reserveCapacity(parcelIDs.count)
        let select = try db.cachedStatement(sql: SQL.selectProgressOfOne)
        for id in parcelIDs where rows[id] == nil {
            try select.run([.text(id)]) { row in
                rows[id] = try StoredProgress(row, parcelID: id, operation: operation)
            }
        }
        return rows
    }

    /// The parcel's row, or nil when there is none.
    private static func progress(_ db: Database, of parcelID: String, operation: String) throws -> StoredProgress? {
        var stored: StoredProgress?
        try db.run(SQL.selectProgress, [.text(parcelID)]) { row in
            stored = try StoredProgress(row, parcelID: parcelID, operation: operation)
        }
        return stored
    }
}
