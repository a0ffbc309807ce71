import Foundation
import Logging
@testable import ParcelStorePostgres
import ParcelTestSupport
import PostgresNIO
import Testing

extension TestDatabase {
    /// Runs `body` with a client of this database, running as a Service would for the duration.
    func withClient<T: Sendable>(_ body: (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: .init(
            host: server.host ?? "127.0.0.1", port: server.port ?? 5432, username: server.user ?? "",
            password: server.password?.removingPercentEncoding, database: name, tls: .disable))
        let running = Task { await client.run() }
        defer { running.cancel() }
        return try await body(client)
    }
}

@Suite("PostgreSQL store: migrations", .serialized,
       .enabled(if: LocalPostgres.url != nil, "PARCELFLOW_TEST_POSTGRES_URL is not set"))
struct PostgresMigrationsTests {
    let logger = Logger(label: "test")

    @Test("a new database is migrated to the latest version, once: a second run changes nothing")
    func migratesOnce() async throws {
        let database = try await TestDatabase.create()
        let (first, second) = try await database.withClient { client in
            (try await PostgresMigrations.migrate(client, now: 1_000, logger: logger),
             try await PostgresMigrations.migrate(client, now: 2_000, logger: logger))
        }
        #expect(first == Array(1...PostgresMigrations.latestVersion))
        #expect(second.isEmpty)
        let versions = try await database.psql("SELECT string_agg(version || ':' || applied_at, ',' ORDER BY version) FROM schema_migrations")
        #expect(versions.output.trimmingCharacters(in: .whitespacesAndNewlines) == (1...PostgresMigrations.latestVersion).map { "\($0):1000" }.joined(separator: ","))
        try await database.drop()
    }

    @Test("four workers starting at once: one migrates under the advisory lock, the others find nothing to do")
    func concurrentStarts() async throws {
        let database = try await TestDatabase.create()
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for index in 0..<4 {
                group.addTask {
                    try await database.withClient { client in
                        try await PostgresMigrations.migrate(client, now: Int64(index), logger: logger)
                    }
                }
            }
            return try await group.reduce(into: [[Int]]()) { $0.append($1) }
        }
        #expect(applied.filter { !$0.isEmpty } == [Array(1...PostgresMigrations.latestVersion)], "\(applied)")
        let rows = try await database.psql("SELECT count(*) FROM schema_migrations")
        #expect(rows.output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(PostgresMigrations.latestVersion)")
        try await database.drop()
    }

    @Test("schemas/sql/postgres.sql is what the migrations make (pg_dump of both)")
    func schemaFileMatches() async throws {
        let migrated = try await TestDatabase.create()
        try await migrated.withClient { client in _ = try await PostgresMigrations.migrate(client, now: 0, logger: logger) }
        let fromFile = try await TestDatabase.create()
        let file = repositoryRoot.appendingPathComponent("schemas/sql/postgres.sql")
        let loaded = try await LocalPostgres.run("/usr/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", fromFile.name,
                                                                   "-f", file.path], on: fromFile.server)
        #expect(loaded.status == 0, "\(loaded.errors)")
        let expected = try await migrated.schemaDump()
        #expect(!expected.isEmpty)
        let actual = try await fromFile.schemaDump()
        let firstDifference = zip(actual.split(separator: "\n"), expected.split(separator: "\n")).first { $0 != $1 }
        #expect(actual == expected, """
            schemas/sql/postgres.sql differs from the migrations (update the file, or add a migration): \
            the file has '\(firstDifference?.0 ?? "")' where the migrations have '\(firstDifference?.1 ?? "")'
            """)
        try await migrated.drop()
        try await fromFile.drop()
    }

    @Test("a database newer than this build is refused and left alone")
    func newerRefused() async throws {
        let database = try await TestDatabase.create()
        try await database.withClient { client in
            _ = try await PostgresMigrations.migrate(client, now: 0, logger: logger)
            _ = try await client.query("INSERT INTO schema_migrations (version, applied_at) VALUES (\(PostgresMigrations.latestVersion + 1), 0)")
            await #expect(throws: PostgresStoreError.self) {
                try await PostgresMigrations.migrate(client, now: 0, logger: logger)
            }
        }
        try await database.drop()
    }

    @Test("the history is append-only: no update, no delete while the parcel is on its way; an erased line may read '(erased)'")
    func historyAppendOnly() async throws {
        let database = try await TestDatabase.create()
        try await database.withClient { client in _ = try await PostgresMigrations.migrate(client, now: 0, logger: logger) }
        let setUp = try await database.psql("""
            INSERT INTO parcels (parcel_id, parcel_json, state, stages_done, attempts, submitted_at, updated_at)
                VALUES ('P-1', '{}', 'queued', 0, 0, 1, 1);
            INSERT INTO events (parcel_id, kind, stage, detail, at) VALUES ('P-1', 'retrying', 'collection', 'depot closed', 2);
            """)
        #expect(setUp.status == 0, "\(setUp.errors)")
        let update = try await database.psql("UPDATE events SET detail = 'rewritten'")
        #expect(update.status != 0 && update.errors.contains("events are append-only"), "\(update.errors)")
        let delete = try await database.psql("DELETE FROM events")
        #expect(delete.status != 0 && delete.errors.contains("while their parcel is on its way"), "\(delete.errors)")
        let erasedBefore = try await database.psql("UPDATE events SET detail = '(erased)'")
        #expect(erasedBefore.status != 0, "not erased yet: the line stays")
        let erased = try await database.psql("""
            UPDATE parcels SET erased_at = 3, state = 'delivered';
            UPDATE events SET detail = '(erased)';
            DELETE FROM events;
            """)
        #expect(erased.status == 0, "\(erased.errors)")
        try await database.drop()
    }
}
