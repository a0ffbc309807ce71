import Foundation
import ParcelCore
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// What only the SQLite store has: a file that outlives the process, WAL, migrations, and errors from
/// files that are not (or no longer) databases.
@Suite("SQLite status store")
struct SQLiteStatusStoreTests {
    @Test("a reopened file has every parcel, its history and its counts")
    func reopen() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("status.db").path
            let first = try await SQLiteStatusStore.open(path: path)
            _ = try await first.submit([parcel("P-1"), parcel("P-2")], at: moment(0))
            try await first.applyAll(wholeJourney, to: "P-1", from: 1)
            try await first.applyAll([.queued(.collection), .deadLettered(.collection, reason: "address unknown")], to: "P-2", from: 1)
            let records = [try await first.record("P-1"), try await first.record("P-2")]
            let histories = [try await first.history("P-1"), try await first.history("P-2")]
            await first.close()

            let second = try await SQLiteStatusStore.open(path: path)
            #expect([try await second.record("P-1"), try await second.record("P-2")] == records)
            #expect([try await second.history("P-1"), try await second.history("P-2")] == histories)
            #expect(try await second.countsByState() == [.delivered: 1, .deadLettered: 1])
            #expect(histories[0].count == 10)
        }
    }

    @Test("a new store's file, and its -wal and -shm files, are readable by their owner only (they hold names)")
    func filesAreOwnerOnly() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("status.db").path
            let previous = umask(0o022) // the usual umask, which would leave the files readable by all
            defer { umask(previous) }
            let store = try await SQLiteStatusStore.open(path: path)
            _ = try await store.submit([parcel("P-1")], at: moment(0))
            for file in [path, path + "-wal", path + "-shm"] {
                let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
                #expect(mode == 0o600, "\(file): \(String(mode ?? 0, radix: 8))")
            }
            await store.close()
        }
    }

    @Test("the audit finds a stage completed twice, which only a broken history can hold")
    func auditFindsAStageAppliedTwice() async throws {
        try await withTemporaryFolder { folder in
            let store = try await SQLiteStatusStore.open(path: folder.appendingPathComponent("status.db").path)
            _ = try await store.submit([parcel("P-1"), parcel("P-2")], at: moment(0))
            try await store.applyAll(wholeJourney, to: "P-1", from: 1)
            #expect(try await store.audit(idPrefix: nil).appliedTwice.isEmpty)
            // What a second worker applying the same stage would leave behind, were the rules broken.
            try await store.execute(script: """
                INSERT INTO events (parcel_id, kind, stage, at) VALUES ('P-1', 'completed', 'packaging', 1796083300000);
                INSERT INTO events (parcel_id, kind, stage, at) VALUES ('P-2', 'completed', 'collection', 1796083300000);
                """)
            #expect(try await store.audit(idPrefix: nil).appliedTwice == ["P-1"])
            #expect(try await store.audit(idPrefix: "P-2").appliedTwice.isEmpty)
            await store.close()
        }
    }

    @Test("the file is in WAL mode, synchronous NORMAL, with foreign keys on")
    func walMode() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("status.db").path
            let store = try await SQLiteStatusStore.open(path: path)
            #expect(try await store.query("PRAGMA journal_mode") == [["wal"]])
            #expect(try await store.query("PRAGMA synchronous") == [["1"]])
            #expect(try await store.query("PRAGMA foreign_keys") == [["1"]])
            #expect(try await store.query("PRAGMA busy_timeout") == [["10000"]])
            // Bytes 18 and 19 of the header are 2 in a WAL database, whoever opens it next.
            let header = try #require(FileManager.default.contents(atPath: path)).prefix(20)
            #expect(Array(header.suffix(2)) == [2, 2])
            await store.close()
        }
    }

    @Test("migrations are recorded once and opening again changes nothing")
    func migrationsIdempotent() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("status.db").path
            let first = try await SQLiteStatusStore.open(path: path)
            let schema = try await first.query("SELECT type, name, sql FROM sqlite_master ORDER BY name")
            let versions = try await first.query("SELECT version, applied_at FROM schema_migrations")
            #expect(versions.map { $0[0] } == Self.versions)
            #expect(try await first.query("SELECT identifier FROM grdb_migrations ORDER BY identifier") == Self.versions.map { [$0] })
            _ = try await first.submit([parcel("P-1")], at: moment(0))
            for _ in 0..<3 {
                let again = try await SQLiteStatusStore.open(path: path)
                #expect(try await again.query("SELECT type, name, sql FROM sqlite_master ORDER BY name") == schema)
                #expect(try await again.query("SELECT version, applied_at FROM schema_migrations") == versions)
                #expect(try await again.query("SELECT count(*) FROM grdb_migrations") == [["\(Self.versions.count)"]])
                #expect(try await again.record("P-1")?.status == .submitted)
                await again.close()
            }
            await first.close()
        }
    }

    @Test("a version 1 database with parcels and history is migrated to the latest version with nothing lost and every rule kept")
    func migrationFromVersion1() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("status.db").path
            // Version 1 as it shipped: CHECK constraints with IN lists.
            let old = try await SQLiteStatusStore.open(path: path, migrate: false)
            try await old.execute(script: """
                CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL);
                INSERT INTO schema_migrations VALUES (1, 1796000000000);
                CREATE TABLE parcels (
                    parcel_id TEXT NOT NULL PRIMARY KEY, parcel_json TEXT NOT NULL,
                    stage TEXT CHECK (stage IN ('collection', 'packaging', 'inspection', 'delivery')),
                    state TEXT NOT NULL CHECK (state IN ('submitted', 'queued', 'processing', 'retrying', 'held',
                                                         'delivered', 'dead_lettered')),
                    stages_done INTEGER NOT NULL CHECK (stages_done BETWEEN 0 AND 4),
                    attempts INTEGER NOT NULL CHECK (attempts >= 0), last_error TEXT,
                    submitted_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
                CREATE INDEX parcels_by_state ON parcels (state);
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY, parcel_id TEXT NOT NULL REFERENCES parcels (parcel_id),
                    kind TEXT NOT NULL CHECK (kind IN ('submitted', 'queued', 'started', 'completed', 'retrying',
                                                       'held', 'delivered', 'dead_lettered')),
                    stage TEXT CHECK (stage IN ('collection', 'packaging', 'inspection', 'delivery')),
                    attempt INTEGER, detail TEXT, worker TEXT, at INTEGER NOT NULL);
                CREATE INDEX events_by_parcel ON events (parcel_id, id);
                CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
                CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
                """)
            _ = try await old.submit([parcel("P-1"), parcel("P-2")], at: moment(0))
            _ = try await old.apply(.queued(.collection), to: ["P-1", "P-2"], worker: nil, at: moment(1))
            _ = try await old.apply(.started(.collection, attempt: 1), to: "P-1", worker: "w/1", at: moment(2))
            _ = try await old.apply(.retrying(.collection, attempt: 1, error: "scanner busy"), to: "P-1", worker: "w/1", at: moment(3))
            let historyBefore = try await old.history("P-1")
            let rows = "SELECT parcel_id, parcel_json, stage, state, stages_done, attempts, last_error, submitted_at, updated_at "
                + "FROM parcels ORDER BY parcel_id"
            let rowsBefore = try await old.query(rows)
            await old.close()

            let store = try await SQLiteStatusStore.open(path: path)
            #expect(try await store.query("SELECT version FROM schema_migrations ORDER BY version") == Self.versions.map { [$0] })
            #expect(try await store.history("P-1") == historyBefore)
            #expect(try await store.query(rows) == rowsBefore)
            #expect(try await store.record("P-1")?.lastError == "scanner busy")
            #expect(try await store.record("P-2")?.status == .queued(.collection))
            #expect(try await store.query("SELECT sql FROM sqlite_master WHERE sql LIKE '% IN (%'").isEmpty)
            // The rules hold as before: CHECKs, the reference to the parcel, the append-only history.
            for statement in [
                "UPDATE parcels SET state = 'lost' WHERE parcel_id = 'P-2'",
                "INSERT INTO events (parcel_id, kind, at) VALUES ('P-404', 'queued', 0)",
                "INSERT INTO events (parcel_id, kind, at) VALUES ('P-2', 'teleported', 0)",
                "DELETE FROM events",
            ] {
                await #expect(throws: StatusStoreError.self, "\(statement)") { try await store.execute(script: statement) }
            }
            // And it goes on working.
            #expect(try await store.apply(.started(.collection, attempt: 2), to: "P-1", worker: "w/2", at: moment(4)) == .applied)
            await store.close()
        }
    }

    @Test("the history stays append-only but for erasure's blanked words and a finished parcel's removal")
    func historyRulesAfterErasure() async throws {
        try await withTemporaryFolder { folder in
            let store = try await SQLiteStatusStore.open(path: folder.appendingPathComponent("status.db").path)
            _ = try await store.submit([parcel("E"), parcel("K"), parcel("W")], at: moment(0))
            for id in ["E", "K"] {
                _ = try await store.applyAll([.queued(.collection), .deadLettered(.collection, reason: "no such ward")], to: id, from: 1)
            }
            _ = try await store.applyAll([.queued(.collection), .started(.collection, attempt: 1),
                                          .retrying(.collection, attempt: 1, error: "late van")], to: "W", from: 1)
            #expect(try await store.erase(["E"], at: moment(10)) == ["E": .erased])
            for statement in [
                // A parcel not erased keeps its words, and one on its way keeps its lines.
                "UPDATE events SET detail = '(erased)' WHERE parcel_id = 'K'",
                "UPDATE events SET detail = '(erased)' WHERE parcel_id = 'W'",
                "DELETE FROM events WHERE parcel_id = 'W'",
                // An erased parcel's lines change in nothing else, and only to '(erased)'.
                "UPDATE events SET at = 0 WHERE parcel_id = 'E'",
                "UPDATE events SET kind = 'delivered' WHERE parcel_id = 'E' AND kind = 'dead_lettered'",
                "UPDATE events SET detail = 'something else' WHERE parcel_id = 'E' AND detail IS NOT NULL",
                "UPDATE events SET worker = 'someone' WHERE parcel_id = 'E'",
            ] {
                await #expect(throws: StatusStoreError.self, "\(statement)") { try await store.execute(script: statement) }
            }
            #expect(try await store.history("K").last?.detail == "no such ward")
            #expect(try await store.history("W").count == 4)
            await store.close()
        }
    }

    /// Every version the migrations make, in decimal ("1" …), and one past the last.
    static let versions = SQLiteMigrations.all.map { String($0.version) }
    static let newer = SQLiteMigrations.all.count + 1

    /// A file as the migrator from before GRDB left it at `version`: its SQL for each version up to
    /// there, and each version recorded in `schema_migrations` only, as that migrator did.
    static func fileBeforeGRDB(at version: Int, path: String) async throws -> SQLiteStatusStore {
        let store = try await SQLiteStatusStore.open(path: path, migrate: false)
        try await store.execute(script: """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    INTEGER NOT NULL PRIMARY KEY,
                applied_at INTEGER NOT NULL
            )
            """)
        for migration in SQLiteMigrations.all where migration.version <= version {
            try await store.execute(script: migration.sql)
            try await store.execute(script: "INSERT INTO schema_migrations (version, applied_at) VALUES (\(migration.version), 1796000000000)")
        }
        return store
    }

    @Test("a file at any version of the migrator from before GRDB opens, keeps its parcels and history, and goes on",
          arguments: [1, 2, 3])
    func fileFromBeforeGRDB(_ version: Int) async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("status.db").path
            let old = try await Self.fileBeforeGRDB(at: version, path: path)
            // Written with the store's own statements, which need nothing of the later versions.
            _ = try await old.submit([parcel("P-1"), parcel("P-2")], at: moment(0))
            _ = try await old.apply(.queued(.collection), to: ["P-1", "P-2"], worker: nil, at: moment(1))
            _ = try await old.apply(.started(.collection, attempt: 1), to: "P-1", worker: "w/1", at: moment(2))
            _ = try await old.apply(.retrying(.collection, attempt: 1, error: "scanner busy"), to: "P-1", worker: "w/1", at: moment(3))
            if version == 1 {
                // Files of that time held the submission as an event too; the history shows it once.
                try await old.execute(script: "INSERT INTO events (parcel_id, kind, at) VALUES ('P-2', 'submitted', 1796083200000)")
            }
            let historyBefore = try await old.history("P-1")
            let rows = "SELECT parcel_id, parcel_json, stage, state, stages_done, attempts, last_error, submitted_at, updated_at "
                + "FROM parcels ORDER BY parcel_id"
            let rowsBefore = try await old.query(rows)
            let eventsBefore = try await old.query("SELECT * FROM events ORDER BY id")
            await old.close()

            let store = try await SQLiteStatusStore.open(path: path)
            #expect(try await store.query("SELECT identifier FROM grdb_migrations ORDER BY identifier") == Self.versions.map { [$0] })
            let versions = try await store.query("SELECT version, applied_at FROM schema_migrations ORDER BY version")
            #expect(versions.map { $0[0] } == Self.versions)
            // The versions applied before keep the time they were applied.
            #expect(versions.prefix(version).allSatisfy { $0[1] == "1796000000000" })
            #expect(try await store.history("P-1") == historyBefore)
            #expect(try await store.history("P-2").map(\.kind) == [.submitted, .queued])
            #expect(try await store.query(rows) == rowsBefore)
            #expect(try await store.query("SELECT id, parcel_id, kind, stage, attempt, detail, worker, at FROM events ORDER BY id")
                    == eventsBefore)
            #expect(try await store.record("P-1")?.lastError == "scanner busy")
            #expect(try await store.record("P-2")?.status == .queued(.collection))
            // The same schema as a new file's.
            let fresh = try await SQLiteStatusStore.open(path: folder.appendingPathComponent("fresh.db").path)
            #expect(try await SQLiteSchemaFileTests.objects(store) == SQLiteSchemaFileTests.objects(fresh))
            await fresh.close()
            // And it goes on working, and opens again without migrating anything.
            #expect(try await store.apply(.started(.collection, attempt: 2), to: "P-1", worker: "w/2", at: moment(4)) == .applied)
            await store.close()
            let again = try await SQLiteStatusStore.open(path: path)
            #expect(try await again.query("SELECT version, applied_at FROM schema_migrations ORDER BY version") == versions)
            #expect(try await again.record("P-1")?.status == .processing(.collection))
            await again.close()
        }
    }

    @Test("a file that ParcelFlow wrote before GRDB (a fixture it made) opens with every parcel and line as it was")
    func fixtureFromBeforeGRDB() async throws {
        let dump = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/StoreFixtures/sqlite-v3-before-grdb.sql"),
                              encoding: .utf8)
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("status.db").path
            let old = try await SQLiteStatusStore.open(path: path, migrate: false)
            // The dump adds the history's lines before the table of parcels they refer to.
            try await old.execute(script: "PRAGMA foreign_keys = OFF")
            try await old.execute(script: dump)
            try await old.execute(script: "PRAGMA foreign_keys = ON")
            let eventsBefore = try await old.query("SELECT * FROM events ORDER BY id")
            let parcelsBefore = try await old.query("SELECT * FROM parcels ORDER BY parcel_id")
            #expect(try await old.query("SELECT count(*) FROM sqlite_master WHERE name = 'grdb_migrations'") == [["0"]])
            await old.close()

            let store = try await SQLiteStatusStore.open(path: path)
            #expect(try await store.query("SELECT identifier FROM grdb_migrations ORDER BY identifier") == Self.versions.map { [$0] })
            #expect(try await store.query("SELECT * FROM events ORDER BY id") == eventsBefore)
            #expect(try await store.query("SELECT * FROM parcels ORDER BY parcel_id") == parcelsBefore)
            #expect(try await store.countsByState() == [.delivered: 4])
            let record = try #require(try await store.record("OLD-0"))
            #expect(record.status == .delivered)
            #expect(record.parcel?.recipient.facility == "Station 7")
            #expect(record.lastError == "scanner offline")
            let history = try await store.history("OLD-0")
            #expect(history.map(\.kind) == [.submitted, .queued, .started, .completed, .started, .retrying, .started, .completed,
                                             .started, .completed, .started, .delivered])
            #expect(history.first?.at == record.submittedAt)
            #expect(try await store.audit(idPrefix: "OLD-").appliedTwice.isEmpty)
            // Rows written before and after sit side by side.
            _ = try await store.submit([parcel("NEW-1")], at: moment(0))
            #expect(try await store.countsByState() == [.delivered: 4, .submitted: 1])
            await store.close()
        }
    }

    @Test("text with a NUL in it is stored and read back whole")
    func textWithNUL() async throws {
        try await withTemporaryFolder { folder in
            let store = try await SQLiteStatusStore.open(path: folder.appendingPathComponent("status.db").path)
            let reason = "poison: broken\u{0}header"
            _ = try await store.submit([parcel("P-1")], at: moment(0))
            try await store.applyAll([.queued(.collection), .deadLettered(.collection, reason: reason)], to: "P-1", from: 1)
            #expect(try await store.record("P-1")?.lastError == reason)
            #expect(try await store.history("P-1").last?.detail == reason)
            #expect(try await store.query("SELECT length(CAST(last_error AS BLOB)) FROM parcels") == [["\(reason.utf8.count)"]])
            await store.close()
        }
    }

    @Test("a database with a migration GRDB ran for a newer ParcelFlow is refused, and nothing is written to it")
    func newerGRDBMigrationRefused() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("status.db").path
            let store = try await SQLiteStatusStore.open(path: path)
            _ = try await store.submit([parcel("P-1")], at: moment(0))
            try await store.execute(script: "INSERT INTO grdb_migrations (identifier) VALUES ('\(Self.newer)')")
            await store.close()
            let error = await #expect(throws: StatusStoreError.self) { try await SQLiteStatusStore.open(path: path) }
            #expect(error?.operation == "open \(path)")
            #expect(error?.message.contains("schema version \(Self.newer)") == true)
            #expect(error?.message.contains("a newer ParcelFlow wrote it") == true)

            // A file from before GRDB that a newer ParcelFlow (of before GRDB) migrated further: refused
            // before its versions are copied anywhere.
            let oldPath = folder.appendingPathComponent("old.db").path
            let old = try await Self.fileBeforeGRDB(at: 3, path: oldPath)
            try await old.execute(script: "INSERT INTO schema_migrations (version, applied_at) VALUES (\(Self.newer), 0)")
            await old.close()
            await #expect(throws: StatusStoreError.self) { try await SQLiteStatusStore.open(path: oldPath) }
            let bare = try await SQLiteStatusStore.open(path: oldPath, migrate: false)
            #expect(try await bare.query("SELECT count(*) FROM sqlite_master WHERE name = 'grdb_migrations'") == [["0"]])
            await bare.close()
        }
    }

    @Test("a database from a newer ParcelFlow is refused, saying so")
    func newerVersionRefused() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("status.db").path
            let store = try await SQLiteStatusStore.open(path: path)
            try await store.execute(script: "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)")
            await store.close()
            let error = await #expect(throws: StatusStoreError.self) { try await SQLiteStatusStore.open(path: path) }
            #expect(error?.operation == "open \(path)")
            #expect(error?.message.contains("schema version 99") == true)
            #expect(error?.message.contains("a newer ParcelFlow wrote it") == true)
        }
    }

    @Test("a file that is not a database gives a clear error")
    func notADatabase() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("parcels.csv").path
            let text = String(repeating: "id,sender_name,sender_relation,recipient_name\n", count: 200)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            let error = await #expect(throws: StatusStoreError.self) { try await SQLiteStatusStore.open(path: path) }
            #expect(error?.description == "status store: open \(path): file is not a database (SQLITE_NOTADB)")
        }
    }

    @Test("a folder that does not exist gives a clear error")
    func missingFolder() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("no-such-folder/status.db").path
            let error = await #expect(throws: StatusStoreError.self) { try await SQLiteStatusStore.open(path: path) }
            #expect(error?.description == "status store: open \(path): unable to open database file (SQLITE_CANTOPEN)")
        }
    }

    @Test("a damaged database gives a clear error, not a crash")
    func corrupt() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("status.db").path
            let store = try await SQLiteStatusStore.open(path: path)
            _ = try await store.submit((0..<200).map { parcel("P-\($0)") }, at: moment(0))
            await store.close()  // The last connection checkpoints the log into the file.

            // Keep the header and the schema (page 1); overwrite every other page.
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: 4096)
            try handle.write(contentsOf: Data(repeating: 0xA5, count: Int(size) - 4096))
            try handle.close()

            // Opening may already see it (the migrations table sits on a damaged page); reading does.
            let error = await #expect(throws: StatusStoreError.self) {
                let damaged = try await SQLiteStatusStore.open(path: path)
                _ = try await damaged.record("P-7")
            }
            #expect(error?.message == "database disk image is malformed (SQLITE_CORRUPT)")
        }
    }

    @Test("events are append-only")
    func appendOnly() async throws {
        try await withTemporaryFolder { folder in
            let store = try await SQLiteStatusStore.open(path: folder.appendingPathComponent("status.db").path)
            _ = try await store.submit([parcel("P-1")], at: moment(0))
            _ = try await store.apply(.queued(.collection), to: "P-1", at: moment(1))
            for sql in ["UPDATE events SET detail = 'rewritten'", "DELETE FROM events"] {
                let error = await #expect(throws: StatusStoreError.self) { try await store.execute(script: sql) }
                #expect(error?.message.contains("events are append-only") == true, "\(sql)")
            }
            #expect(try await store.history("P-1").map(\.kind) == [.submitted, .queued])
            await store.close()
        }
    }

    @Test("a closed store says so")
    func closed() async throws {
        try await withTemporaryFolder { folder in
            let store = try await SQLiteStatusStore.open(path: folder.appendingPathComponent("status.db").path)
            await store.close()
            let error = await #expect(throws: StatusStoreError.self) { try await store.countsByState() }
            #expect(error?.message == "the store is closed")
        }
    }
}
