import ParcelCore

/// Raw SQL for the package's own tests (journal mode, the schema as SQLite holds it, a database that
/// pretends to come from a newer version). Not public: users go through ``StatusStore``.
extension SQLiteStatusStore {
    /// Every row of `sql`, each column as text (nil for NULL).
    package func query(_ sql: String) throws(StatusStoreError) -> [[String?]] {
        var rows: [[String?]] = []
        try connection.execute(sql, operation: "query", cache: false) { row in
            rows.append((0..<row.columnCount).map { row.text($0) })
        }
        return rows
    }

    /// Runs `;`-separated statements.
    package func execute(script: String) throws(StatusStoreError) {
        try connection.executeScript(script, operation: "execute")
    }
}
