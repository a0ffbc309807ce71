import Logging
import PostgresNIO

/// Brings a PostgreSQL database to the latest schema (``PostgresSchema``): every missing version, in
/// order, in one transaction, so a failure leaves the database as it was.
///
/// Safe when several workers start at once: the transaction first takes a transaction-level advisory
/// lock, so one migrates while the others wait, then find nothing left to do. A database already at a
/// later version than this build knows is refused, not touched: an older worker must not run against a
/// schema it does not understand.
public enum PostgresMigrations {
    /// The advisory lock key: "PFmigrat" as a big-endian integer, chosen so it meets no one else's.
    static let lockKey: Int64 = 0x5046_6D69_6772_6174

    public static var latestVersion: Int { PostgresSchema.versions.count }

    /// Migrates and returns the versions applied now (empty when the database was up to date).
    @discardableResult
    public static func migrate(_ client: PostgresClient, now: Int64, logger: Logger) async throws -> [Int] {
        try await client.withConnection { connection in
            try await migrate(connection, now: now, logger: logger)
        }
    }

    /// Migrates through one connection (outside any transaction of its own).
    @discardableResult
    public static func migrate(_ connection: PostgresConnection, now: Int64, logger: Logger) async throws -> [Int] {
        do {
            return try await migrateInTransaction(connection, now: now, logger: logger)
        } catch let error as PostgresTransactionError {
            // Our own refusal reads as itself, not wrapped in the rolled-back transaction's error.
            if let refusal = error.closureError as? PostgresStoreError { throw refusal }
            throw error
        }
    }

    private static func migrateInTransaction(_ connection: PostgresConnection, now: Int64, logger: Logger) async throws -> [Int] {
        try await connection.withTransaction(logger: logger) { connection -> [Int] in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: PostgresSchema.migrationsTable), logger: logger)
            var current = 0
            for try await version in try await connection.query("SELECT coalesce(max(version), 0) FROM schema_migrations",
                                                               logger: logger).decode(Int.self) {
                current = version
            }
            guard current <= latestVersion else {
                throw PostgresStoreError(
                    "the database is at schema version \(current), newer than this build's \(latestVersion): "
                        + "upgrade ParcelFlow before running it against this database")
            }
            var applied: [Int] = []
            for version in (current + 1)...max(current + 1, latestVersion) where version <= latestVersion {
                for statement in PostgresSchema.versions[version - 1] {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (\(version), \(now))", logger: logger)
                applied.append(version)
            }
            if !applied.isEmpty { logger.info("migrated the status store", metadata: ["schema.versions": "\(applied)"]) }
            return applied
        }
    }
}

/// What the PostgreSQL store could not do, in words for the person who reads it.
public struct PostgresStoreError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}
