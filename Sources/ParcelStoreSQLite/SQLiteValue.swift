internal import CSQLite

/// A value bound to a statement's parameter.
enum SQLiteValue {
    case integer(Int64)
    case text(String)
    case null

    static func text(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }
    static func integer(_ value: Int?) -> SQLiteValue { value.map { .integer(Int64($0)) } ?? .null }

    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        switch self {
        case .integer(let value):
            return sqlite3_bind_int64(statement, index, value)
        case .text(let value):
            // The byte count keeps an embedded NUL, which a C string would cut short.
            let count = Int32(value.utf8.count)
            return value.withCString { CSQLite_bind_text_transient(statement, index, $0, count) }
        case .null:
            return sqlite3_bind_null(statement, index)
        }
    }
}

/// The current row of a statement being stepped; valid only inside the `row` closure.
struct SQLiteRow {
    let statement: OpaquePointer

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
}

extension SQLiteRow {
    var columnCount: Int32 {
        sqlite3_column_count(statement)
    }
}
