internal import CSQLite
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ParcelCore

/// One SQLite connection and its prepared statements.
///
/// Deliberately not `Sendable`: ``SQLiteStatusStore`` (an actor running on a queue of its own) owns the
/// only reference, so the compiler itself confines the connection to that queue. That is also why it
/// is opened with `SQLITE_OPEN_NOMUTEX`: SQLite need not lock a connection that one thread at a time uses.
final class SQLiteConnection {
    let path: String
    private var handle: OpaquePointer?
    /// Prepared once, reset after every use: a batch of 2,000 parcels parses its SQL once.
    private var statements: [String: OpaquePointer] = [:]
    /// The result code of the last failure ``check(_:_:message:)`` reported.
    private(set) var lastFailureCode = SQLITE_OK

    init(path: String) {
        self.path = path
    }

    deinit {
        close()
    }

    /// Opens (creating when missing) the database file, as several processes may share it.
    ///
    /// - Parameter busyTimeoutMilliseconds: how long a write waits for another process's write
    ///   transaction to end before failing with `SQLITE_BUSY`.
    func open(busyTimeoutMilliseconds: Int32) throws(StatusStoreError) {
        let operation = "open \(path)"
        Self.createOwnerOnly(path)
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let code = sqlite3_open_v2(path, &db, flags, nil)
        // Even a failed open usually returns a handle: it carries the message and must be closed.
        handle = db
        try check(code, operation)
        CSQLite_disable_double_quoted_strings(db)
        try check(sqlite3_busy_timeout(db, busyTimeoutMilliseconds), operation)
        try enableWriteAheadLogging(timeoutMilliseconds: busyTimeoutMilliseconds, operation: operation)
        try execute("PRAGMA synchronous = NORMAL", operation: operation, cache: false)
        try execute("PRAGMA foreign_keys = ON", operation: operation, cache: false)
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
    /// never corrupt the file.
    ///
    /// The switch needs every other connection out of the file, and SQLite reports `SQLITE_BUSY` at
    /// once, without its busy handler, when another process is opening the same new file: so wait
    /// and try again, up to the busy timeout. (Seen: 11 of 1,200 processes starting in threes.)
    private func enableWriteAheadLogging(timeoutMilliseconds: Int32, operation: String) throws(StatusStoreError) {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
        var pause = 0.001
        while true {
            lastFailureCode = SQLITE_OK
            do throws(StatusStoreError) {
                let mode = try scalarText("PRAGMA journal_mode = WAL", operation: operation)
                guard mode?.lowercased() == "wal" else {
                    throw StatusStoreError(operation, "the database cannot use write-ahead logging (journal mode \(mode ?? "unknown"))")
                }
                return
            } catch where lastFailureCode & 0xff == SQLITE_BUSY && ContinuousClock.now < deadline {
                // The store's own queue: sleeping here blocks no one else.
                Thread.sleep(forTimeInterval: pause)
                pause = min(pause * 2, 0.05)
            }
        }
    }

    /// Finalizes every statement and closes the connection; later calls fail with "the store is closed".
    func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements = [:]
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Runs `body` in a write transaction: all of it is recorded, or none of it.
    ///
    /// `BEGIN IMMEDIATE` takes the write lock up front (waiting up to the busy timeout), so a
    /// transaction that read a parcel's row can never fail later with `SQLITE_BUSY` because another
    /// process wrote in between.
    ///
    /// `readOnly` begins a deferred transaction instead: several reads see one moment of the database
    /// (WAL gives readers a snapshot) and writers are not kept waiting.
    func transaction<T>(_ operation: String, readOnly: Bool = false,
                        _ body: () throws(StatusStoreError) -> T) throws(StatusStoreError) -> T {
        try execute(readOnly ? "BEGIN DEFERRED" : "BEGIN IMMEDIATE", operation: operation)
        do {
            let result = try body()
            try execute("COMMIT", operation: operation)
            return result
        } catch {
            if let handle, sqlite3_get_autocommit(handle) == 0 {
                // The error that made us roll back is the one worth reporting.
                _ = try? execute("ROLLBACK", operation: operation)
            }
            throw error
        }
    }

    /// Runs one statement with `values` bound to its parameters, calling `row` for each result row.
    ///
    /// - Returns: how many rows the statement inserted, updated or deleted.
    @discardableResult
    func execute(_ sql: String, _ values: [SQLiteValue] = [], operation: @autoclosure () -> String, cache: Bool = true,
                 row: (SQLiteRow) throws(StatusStoreError) -> Void = { _ in }) throws(StatusStoreError) -> Int {
        let statement = try prepare(sql, operation: operation(), cache: cache)
        defer {
            if cache {
                sqlite3_reset(statement)
                sqlite3_clear_bindings(statement)
            } else {
                sqlite3_finalize(statement)
            }
        }
        for (offset, value) in values.enumerated() {
            try check(value.bind(to: statement, at: Int32(offset + 1)), operation())
        }
        while true {
            let code = sqlite3_step(statement)
            guard code == SQLITE_ROW else {
                try check(code, operation())
                return Int(sqlite3_changes(handle))
            }
            try row(SQLiteRow(statement: statement))
        }
    }

    /// The first column of the first row, as text.
    func scalarText(_ sql: String, _ values: [SQLiteValue] = [], operation: @autoclosure () -> String,
                    cache: Bool = false) throws(StatusStoreError) -> String? {
        var value: String?
        var first = true
        try execute(sql, values, operation: operation(), cache: cache) { row in
            if first { value = row.text(0) }
            first = false
        }
        return value
    }

    /// The first column of the first row, as an integer (0 when NULL or no row).
    func scalarInteger(_ sql: String, _ values: [SQLiteValue] = [], operation: @autoclosure () -> String,
                       cache: Bool = false) throws(StatusStoreError) -> Int64 {
        var value: Int64 = 0
        try execute(sql, values, operation: operation(), cache: cache) { row in value = row.integer(0) }
        return value
    }

    /// Runs several `;`-separated statements, such as a migration.
    func executeScript(_ sql: String, operation: @autoclosure () -> String) throws(StatusStoreError) {
        guard let handle else { throw StatusStoreError(operation(), "the store is closed") }
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        let text = message.map { String(cString: $0) }
        sqlite3_free(message)
        try check(code, operation(), message: text)
    }

    private func prepare(_ sql: String, operation: @autoclosure () -> String, cache: Bool) throws(StatusStoreError) -> OpaquePointer {
        if cache, let statement = statements[sql] { return statement }
        guard let handle else { throw StatusStoreError(operation(), "the store is closed") }
        var statement: OpaquePointer?
        let flags = cache ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        try check(sqlite3_prepare_v3(handle, sql, -1, flags, &statement, nil), operation())
        guard let statement else { throw StatusStoreError(operation(), "no SQL statement in \"\(sql)\"") }
        if cache { statements[sql] = statement }
        return statement
    }

    /// Every SQLite result code passes through here: success returns, anything else becomes a
    /// ``StatusStoreError`` naming the operation, with SQLite's own words and the code's name
    /// (`database is locked (SQLITE_BUSY)`, `file is not a database (SQLITE_NOTADB)`).
    func check(_ code: Int32, _ operation: @autoclosure () -> String, message: String? = nil) throws(StatusStoreError) {
        switch code {
        case SQLITE_OK, SQLITE_ROW, SQLITE_DONE: return
        default:
            lastFailureCode = code
            let text = message ?? handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
            throw StatusStoreError(operation(), "\(text) (\(Self.name(of: code)))")
        }
    }

    /// The name of a result code's primary part, as SQLite's documentation spells it.
    static func name(of code: Int32) -> String {
        let names: [Int32: String] = [
            SQLITE_ERROR: "SQLITE_ERROR", SQLITE_INTERNAL: "SQLITE_INTERNAL", SQLITE_PERM: "SQLITE_PERM",
            SQLITE_ABORT: "SQLITE_ABORT", SQLITE_BUSY: "SQLITE_BUSY", SQLITE_LOCKED: "SQLITE_LOCKED",
            SQLITE_NOMEM: "SQLITE_NOMEM", SQLITE_READONLY: "SQLITE_READONLY", SQLITE_INTERRUPT: "SQLITE_INTERRUPT",
            SQLITE_IOERR: "SQLITE_IOERR", SQLITE_CORRUPT: "SQLITE_CORRUPT", SQLITE_NOTFOUND: "SQLITE_NOTFOUND",
            SQLITE_FULL: "SQLITE_FULL", SQLITE_CANTOPEN: "SQLITE_CANTOPEN", SQLITE_PROTOCOL: "SQLITE_PROTOCOL",
            SQLITE_SCHEMA: "SQLITE_SCHEMA", SQLITE_TOOBIG: "SQLITE_TOOBIG", SQLITE_CONSTRAINT: "SQLITE_CONSTRAINT",
            SQLITE_MISMATCH: "SQLITE_MISMATCH", SQLITE_MISUSE: "SQLITE_MISUSE", SQLITE_NOLFS: "SQLITE_NOLFS",
            SQLITE_AUTH: "SQLITE_AUTH", SQLITE_RANGE: "SQLITE_RANGE", SQLITE_NOTADB: "SQLITE_NOTADB",
        ]
        let primary = code & 0xff
        let name = names[primary] ?? "SQLite code \(primary)"
        return primary == code ? name : "\(name), extended code \(code)"
    }
}
