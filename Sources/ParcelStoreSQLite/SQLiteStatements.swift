import GRDB
internal import GRDBSQLite
import ParcelCore

// GRDB owns the connection, prepares the store's statements and keeps them (`Database.cachedStatement(sql:)`),
// and runs the transactions. Each statement is then stepped through SQLite's C API on GRDB's prepared
// statement (`Statement.sqliteStatement`, which GRDB offers for this), as the hot paths need:
//
// - Through GRDB's statement API (its arguments and cursors), each execution costs about 2,500 more
//   instructions, for checks this store does not use (scheduling watchdog, suspension and
//   cancellation under a mutex, observation, exclusivity checks), and the store runs one or two
//   statements per parcel on every path: `parcelctl bench store --rounds 1` took 1.520 G
//   instructions that way, 1.392 G stepped here (callgrind; the hand-written layer before GRDB: 1.425 G).
// - Text is bound and read by its byte count. GRDB's own String binding and decoding go through C
//   strings, which end at the first NUL: a reason or an error text holding one (a dead letter's
//   reason comes from the broker) would be stored, or read back, cut short.
//
// Every statement stepped here is reset when its run ends, failed or not, so that GRDB, which may
// run the same cached statement itself, always finds it ready.

/// A value bound to a statement's parameter.
enum SQLArgument {
    case integer(Int64)
    case text(String)
    case null

    static func text(_ value: String?) -> SQLArgument { value.map { .text($0) } ?? .null }
    static func integer(_ value: Int?) -> SQLArgument { value.map { .integer(Int64($0)) } ?? .null }

    /// Binds the value and runs `body` while it is bound. Text is bound in place (`SQLITE_STATIC`), not
    /// copied: its bytes stay valid until `body` returns, and ``GRDB/Statement/run(_:row:)`` steps the
    /// statement inside `body` and unbinds the text before returning. A copy (`SQLITE_TRANSIENT`) is an
    /// allocation under SQLite's memory mutex per text value: the submitter binds about ten per parcel,
    /// and binding, mostly those copies, was 10 % of its CPU.
    fileprivate func bind<T>(to statement: SQLiteStatement, at index: Int32,
                             _ body: (Int32) throws -> T) rethrows -> T {
        switch self {
        case .integer(let value):
            return try body(sqlite3_bind_int64(statement, index, value))
        case .text(let value):
            // The byte count keeps an embedded NUL, which a C string would cut short.
            let count = Int32(value.utf8.count)
            return try value.withCString { try body(sqlite3_bind_text(statement, index, $0, count, nil)) }
        case .null:
            return try body(sqlite3_bind_null(statement, index))
        }
    }

    /// Binds `arguments` from parameter `index` on and runs `body` while all of them are bound.
    fileprivate static func bind<T>(_ arguments: ArraySlice<SQLArgument>, to statement: SQLiteStatement, from index: Int32,
                                    _ body: () throws -> T) throws -> T {
        guard let first = arguments.first else { return try body() }
        return try first.bind(to: statement, at: index) { code in
            guard code == SQLITE_OK else { throw Statement.failure(code, sqlite3_db_handle(statement)) }
            return try bind(arguments.dropFirst(), to: statement, from: index + 1, body)
        }
    }
}

/// The current row of a statement being stepped; valid only inside the `row` closure of
/// ``GRDB/Statement/run(_:row:)``.
struct SQLRow {
    fileprivate let statement: SQLiteStatement

    func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(statement, column) == SQLITE_NULL
    }

    func integer(_ column: Int32) -> Int64 {
        sqlite3_column_int64(statement, column)
    }

    func text(_ column: Int32) -> String? {
        // SQLite's documented order: the pointer first, then the byte count.
        guard let bytes = sqlite3_column_text(statement, column) else { return nil }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    var columnCount: Int32 {
        sqlite3_column_count(statement)
    }
}

extension Statement {
    /// Runs the statement once with `arguments` bound to its parameters, calling `row` for each result
    /// row (valid only during the call).
    ///
    /// - Returns: how many rows the statement inserted, updated or deleted.
    @discardableResult
    func run(_ arguments: [SQLArgument] = [], row: (SQLRow) throws -> Void = { _ in }) throws -> Int {
        let statement = sqliteStatement
        let connection = sqlite3_db_handle(statement)
        defer {
            sqlite3_reset(statement)
            // The text bound in place is gone once this call returns (or a bind failed): unbind it, so
            // that the statement never holds a pointer to it (SQLite does not read it to unbind).
            for (offset, argument) in arguments.enumerated() {
                if case .text = argument { sqlite3_bind_null(statement, Int32(offset + 1)) }
            }
        }
        // A parameter left unbound reads as NULL, as on a fresh statement. A run that binds every one
        // (the store's own always do) replaces all the last run's values: nothing to clear then, which
        // saves about 1,000 instructions per statement run.
        if arguments.count < sqlite3_bind_parameter_count(statement) { sqlite3_clear_bindings(statement) }
        return try SQLArgument.bind(arguments[...], to: statement, from: 1) {
            while true {
                let code = sqlite3_step(statement)
                guard code == SQLITE_ROW else {
                    guard code == SQLITE_DONE else { throw Self.failure(code, connection) }
                    return Int(sqlite3_changes(connection))
                }
                try row(SQLRow(statement: statement))
            }
        }
    }

    fileprivate static func failure(_ code: Int32, _ connection: OpaquePointer?) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: connection.map { String(cString: sqlite3_errmsg($0)) })
    }
}

extension Database {
    /// Runs one statement (see ``GRDB/Statement/run(_:row:)``), prepared once per connection and kept
    /// by GRDB; `cache: false` prepares it for this call only, for SQL that runs once.
    @discardableResult
    func run(_ sql: String, _ arguments: [SQLArgument] = [], cache: Bool = true,
             row: (SQLRow) throws -> Void = { _ in }) throws -> Int {
        try (cache ? cachedStatement(sql: sql) : makeStatement(sql: sql)).run(arguments, row: row)
    }

    /// The first column of the first row, as an integer (0 when NULL or no row).
    func integer(_ sql: String, _ arguments: [SQLArgument] = [], cache: Bool = true) throws -> Int64 {
        var value: Int64?
        try run(sql, arguments, cache: cache) { row in
            if value == nil { value = row.integer(0) }
        }
        return value ?? 0
    }

    /// Runs `body` in a write transaction: all of it is recorded, or none of it.
    ///
    /// `BEGIN IMMEDIATE` takes the write lock up front (waiting up to the busy timeout), so a
    /// transaction that read a parcel's row can never fail later with `SQLITE_BUSY` because another
    /// process wrote in between.
    func writeTransaction<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        try inTransaction(.immediate) {
            result = try body()
            return .commit
        }
        return result!
    }

    /// Runs `body` in a read transaction (`BEGIN DEFERRED`, for bodies that only read): several reads
    /// see one moment of the database (WAL gives readers a snapshot), and writers are not kept waiting.
    ///
    /// Not GRDB's `readOnly` (which `DatabaseQueue.read` uses): it sets `PRAGMA query_only` on and
    /// off, and SQLite expires every prepared statement when a flag pragma changes, so each cached
    /// statement was prepared again after every check (5.6 % of `parcelctl bench store`'s instructions).
    func readTransaction<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        try inTransaction(.deferred) {
            result = try body()
            return .commit
        }
        return result!
    }
}

extension StatusStoreError {
    /// A failure of `operation`: SQLite's own words and the code's name (`database is locked
    /// (SQLITE_BUSY)`, `file is not a database (SQLITE_NOTADB)`), or this store's.
    init(_ operation: String, _ error: any Error) {
        switch error {
        case let error as StatusStoreError:
            self = error
        case let error as DatabaseError:
            let code = error.extendedResultCode
            self.init(operation, "\(error.message ?? "SQLite error") (\(Self.name(of: code.rawValue)))")
        default:
            self.init(operation, "\(error)")
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
