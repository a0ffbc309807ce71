import GRDB
import ParcelCore

/// Raw SQL for the package's own tests (journal mode, the schema as SQLite holds it, a database that
/// pretends to come from a newer version). Not public: users go through ``StatusStore``.
extension SQLiteStatusStore {
    /// Every row of `sql`, each column as text (nil for NULL).
    package func query(_ sql: String) async throws(StatusStoreError) -> [[String?]] {
        try await access("query") { db in
            var rows: [[String?]] = []
            try db.run(sql, cache: false) { row in
                rows.append((0..<row.columnCount).map { row.text($0) })
            }
            return rows
        }
    }

    /// Runs `;`-separated statements.
    package func execute(script: String) async throws(StatusStoreError) {
        try await access("execute") { db in try db.execute(sql: script) }
    }
}
