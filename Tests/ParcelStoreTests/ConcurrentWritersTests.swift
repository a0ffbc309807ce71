import Foundation
import ParcelCore
import Logging
import ParcelStorePostgres
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// Several worker processes share one store: one SQLite file on a machine, one PostgreSQL database
/// across machines.
@Suite("Concurrent writers")
struct ConcurrentWritersTests {
    static let parcelsPerWriter = 150

    @Test("two processes writing one new SQLite file at once lose nothing and fail nothing")
    func twoProcesses() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("shared.db").path
            // Both start on a file that does not exist yet: they also race to create and migrate it.
            try await Self.runWriters(on: "sqlite:\(path)")
            let store = try await SQLiteStatusStore.open(path: path)
            try await Self.checkJourneys(in: store)
            // The two really wrote at the same time: their events interleave in commit order.
            let writers = try await store.query("SELECT substr(parcel_id, 1, 1) FROM events ORDER BY id").map { $0[0] ?? "" }
            Self.expectInterleaved(writers)
            // Exactly one migration ran, whichever process got there first.
            #expect(try await store.query("SELECT version FROM schema_migrations") == SQLiteStatusStoreTests.versions.map { [$0] })
            #expect(try await store.query("SELECT identifier FROM grdb_migrations ORDER BY identifier") == SQLiteStatusStoreTests.versions.map { [$0] })
            await store.close()
        }
    }

    @Test("four processes opening one new file at once: every one finds it migrated, by itself or another (ten files)")
    func racingMigrations() async throws {
        let writer = try #require(builtProduct("parcelflow-store-writer"),
                                  "parcelflow-store-writer is not next to the tests: run `swift build --build-tests` first")
        try await withTemporaryFolder { folder in
            for round in 0..<10 {
                let path = folder.appendingPathComponent("race-\(round).db").path
                // GRDB's migrator reads what is applied before it takes the write lock: the others' work
                // shows up only under the lock (SQLiteMigrations.migrate).
                let exits = try await withThrowingTaskGroup(of: ChildExit.self) { group in
                    for prefix in ["A", "B", "C", "D"] {
                        group.addTask { try await runChild(writer, [path, prefix, "1"]) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                for exit in exits {
                    #expect(exit.status == 0 && exit.errors.isEmpty, "round \(round): \(exit.errors)")
                }
                let store = try await SQLiteStatusStore.open(path: path)
                #expect(try await store.query("SELECT version FROM schema_migrations") == SQLiteStatusStoreTests.versions.map { [$0] })
                #expect(try await store.countsByState() == [.delivered: 4])
                await store.close()
            }
        }
    }


    @Test("two processes writing one new PostgreSQL database at once lose nothing and fail nothing",
          .enabled(if: LocalPostgres.url != nil, "PARCELFLOW_TEST_POSTGRES_URL is not set"))
    func twoProcessesOnPostgres() async throws {
        let database = try await TestDatabase.create()
        // Both start on an empty database: they also race to migrate it (under the advisory lock).
        try await Self.runWriters(on: database.url.string!)
        let store = try await PostgresStatusStore.open(try PostgresSettings.parse(database.url.string!, environment: [:]),
                                                       logger: Logger(label: "test"))
        try await Self.checkJourneys(in: store)
        let writers = try await database.psql("SELECT left(parcel_id, 1) FROM events ORDER BY id")
        Self.expectInterleaved(writers.output.split(separator: "\n").map(String.init))
        let versions = try await database.psql("SELECT count(*) FROM schema_migrations")
        #expect(versions.output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(PostgresMigrations.latestVersion)")
        await store.close()
        try await database.drop()
    }

    /// Runs writers A and B on the store at `location` at once; both must succeed.
    static func runWriters(on location: String) async throws {
        let writer = try #require(builtProduct("parcelflow-store-writer"),
                                  "parcelflow-store-writer is not next to the tests: run `swift build --build-tests` first")
        async let first = runChild(writer, [location, "A", "\(Self.parcelsPerWriter)"])
        async let second = runChild(writer, [location, "B", "\(Self.parcelsPerWriter)"])
        for (prefix, exit) in try await [("A", first), ("B", second)] {
            #expect(exit.status == 0, "writer \(prefix) failed: \(exit.errors)")
            #expect(exit.errors.isEmpty)
            #expect(exit.output == "\(prefix): \(Self.parcelsPerWriter) parcel(s) delivered\n")
        }
    }

    /// Every parcel of both writers is delivered, with its whole history in order.
    static func checkJourneys(in store: any StatusStore) async throws {
        #expect(try await store.countsByState() == [.delivered: 2 * Self.parcelsPerWriter])
        for prefix in ["A", "B"] {
            for index in 0..<Self.parcelsPerWriter {
                let id = "\(prefix)-\(index)"
                let record = try #require(try await store.record(id), "\(id) is missing")
                #expect(record.status == .delivered, "\(id)")
                let history = try await store.history(id)
                #expect(history.map(\.kind) == Self.expectedKinds(index), "\(id)")
                #expect(history.map(\.stage) == Self.expectedStages(index), "\(id)")
                #expect(history.compactMap(\.attempt) == (index % 3 == 0 ? [1, 1, 1, 2, 1, 1] : [1, 1, 1, 1]), "\(id)")
                #expect(history.dropFirst().allSatisfy { $0.worker?.hasPrefix("\(prefix)/") == true }, "\(id)")
                #expect(zip(history, history.dropFirst()).allSatisfy { $0.at <= $1.at }, "\(id)")
                #expect(history.last?.at == record.updatedAt, "\(id)")
            }
        }
    }

    /// The writers' events (each its writer's letter, in commit order) interleave: they really wrote at
    /// the same time.
    static func expectInterleaved(_ writers: [String]) {
        let switches = zip(writers, writers.dropFirst()).filter { $0 != $1 }.count
        #expect(switches >= 2, "the writers ran one after the other: nothing was tested concurrently")
    }

    /// The writer's journey: the third parcels retry packaging once.
    static func expectedKinds(_ index: Int) -> [ParcelEvent.Kind] {
        let packaging: [ParcelEvent.Kind] = index % 3 == 0 ? [.started, .retrying, .started, .completed] : [.started, .completed]
        return [.submitted, .queued, .started, .completed] + packaging + [.started, .completed, .started, .delivered]
    }

    static func expectedStages(_ index: Int) -> [Stage?] {
        let packaging = [Stage?](repeating: .packaging, count: index % 3 == 0 ? 4 : 2)
        return [nil, .collection, .collection, .collection] + packaging
            + [.inspection, .inspection, .delivery, .delivery]
    }
}
