import Foundation
import GRDB
import ParcelCore

/// One step of the schema's history. A migration is never edited once released: a change is a new
/// migration with the next version. `schemas/sql/sqlite.sql` shows what they add up to, and a test
/// keeps the two equal. GRDB's `DatabaseMigrator` runs them (``SQLiteMigrations/migrate(_:now:)``).
package struct SQLiteMigration: Sendable {
    package let version: Int
    package let summary: String
    package let sql: String
}

package enum SQLiteMigrations {
    package static let all: [SQLiteMigration] = [
        SQLiteMigration(version: 1, summary: "parcels and their append-only history", sql: """
            CREATE TABLE parcels (
                parcel_id    TEXT    NOT NULL PRIMARY KEY,
                -- The parcel as submitted (the task envelope's "parcel" JSON).
                parcel_json  TEXT    NOT NULL,
                -- The stage the parcel is at; NULL while only submitted.
                stage        TEXT    CHECK (stage IN ('collection', 'packaging', 'inspection', 'delivery')),
                state        TEXT    NOT NULL
                                     CHECK (state IN ('submitted', 'queued', 'processing', 'retrying', 'held',
                                                      'delivered', 'dead_lettered')),
                stages_done  INTEGER NOT NULL CHECK (stages_done BETWEEN 0 AND 4),
                -- Attempts at the current stage.
                attempts     INTEGER NOT NULL CHECK (attempts >= 0),
                -- The last retry's error, or the hold or dead-letter reason.
                last_error   TEXT,
                -- Unix time in milliseconds.
                submitted_at INTEGER NOT NULL,
                updated_at   INTEGER NOT NULL
            );

            -- countsByState, and the report's "how many are where".
            CREATE INDEX parcels_by_state ON parcels (state);

            CREATE TABLE events (
                id        INTEGER PRIMARY KEY,
                parcel_id TEXT    NOT NULL REFERENCES parcels (parcel_id),
                kind      TEXT    NOT NULL
                                  CHECK (kind IN ('submitted', 'queued', 'started', 'completed', 'retrying', 'held',
                                                  'delivered', 'dead_lettered')),
                stage     TEXT    CHECK (stage IN ('collection', 'packaging', 'inspection', 'delivery')),
                attempt   INTEGER,
                -- The error of a retry, the reason of a hold or dead letter.
                detail    TEXT,
                -- Which worker did it (host and process), when a worker did.
                worker    TEXT,
                -- Unix time in milliseconds.
                at        INTEGER NOT NULL
            );

            -- A parcel's history, oldest first.
            CREATE INDEX events_by_parcel ON events (parcel_id, id);

            -- The history is append-only.
            CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN
                SELECT RAISE(ABORT, 'events are append-only');
            END;

            CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN
                SELECT RAISE(ABORT, 'events are append-only');
            END;
            """),
        SQLiteMigration(version: 2, summary: "CHECK constraints without IN lists", sql: """
            -- The CHECK lists as chains of OR: SQLite evaluates a constant IN list through a temporary index
            -- that it builds for every statement, which doubled the cost of every status change. SQLite cannot
            -- change a constraint in place, so both tables are copied into new ones that replace them (the
            -- history's REFERENCES follows the rename of parcels_v2).
            CREATE TABLE parcels_v2 (
                parcel_id    TEXT    NOT NULL PRIMARY KEY,
                -- The parcel as submitted (the task envelope's "parcel" JSON).
                parcel_json  TEXT    NOT NULL,
                -- The stage the parcel is at; NULL while only submitted.
                stage        TEXT    CHECK (stage = 'collection' OR stage = 'packaging' OR stage = 'inspection'
                                            OR stage = 'delivery'),
                state        TEXT    NOT NULL
                                     CHECK (state = 'submitted' OR state = 'queued' OR state = 'processing'
                                            OR state = 'retrying' OR state = 'held' OR state = 'delivered'
                                            OR state = 'dead_lettered'),
                stages_done  INTEGER NOT NULL CHECK (stages_done BETWEEN 0 AND 4),
                -- Attempts at the current stage.
                attempts     INTEGER NOT NULL CHECK (attempts >= 0),
                -- The last retry's error, or the hold or dead-letter reason.
                last_error   TEXT,
                -- Unix time in milliseconds.
                submitted_at INTEGER NOT NULL,
                updated_at   INTEGER NOT NULL
            );

            INSERT INTO parcels_v2 SELECT parcel_id, parcel_json, stage, state, stages_done, attempts, last_error,
                submitted_at, updated_at FROM parcels;

            CREATE TABLE events_v2 (
                -- A rowid: rising, because rows are only ever appended (no AUTOINCREMENT bookkeeping per insert).
                id        INTEGER PRIMARY KEY,
                parcel_id TEXT    NOT NULL REFERENCES parcels_v2 (parcel_id),
                kind      TEXT    NOT NULL
                                  CHECK (kind = 'submitted' OR kind = 'queued' OR kind = 'started'
                                         OR kind = 'completed' OR kind = 'retrying' OR kind = 'held'
                                         OR kind = 'delivered' OR kind = 'dead_lettered'),
                stage     TEXT    CHECK (stage = 'collection' OR stage = 'packaging' OR stage = 'inspection'
                                         OR stage = 'delivery'),
                attempt   INTEGER,
                -- The error of a retry, the reason of a hold or dead letter.
                detail    TEXT,
                -- Which worker did it (host and process), when a worker did.
                worker    TEXT,
                -- Unix time in milliseconds.
                at        INTEGER NOT NULL
            );

            INSERT INTO events_v2 SELECT id, parcel_id, kind, stage, attempt, detail, worker, at FROM events;

            DROP TABLE events;
            DROP TABLE parcels;
            ALTER TABLE parcels_v2 RENAME TO parcels;
            ALTER TABLE events_v2 RENAME TO events;

            CREATE INDEX parcels_by_state ON parcels (state);
            CREATE INDEX events_by_parcel ON events (parcel_id, id);

            CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN
                SELECT RAISE(ABORT, 'events are append-only');
            END;

            CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN
                SELECT RAISE(ABORT, 'events are append-only');
            END;
            """),
        SQLiteMigration(version: 3, summary: "erasure and pruning", sql: """
            -- When the parcel's personal data was erased (parcelctl erase): parcel_json then holds only its
            -- id, and its reasons and errors read '(erased)', in its row and its history.
            ALTER TABLE parcels ADD COLUMN erased_at INTEGER;

            -- The history stays append-only, with two exceptions that keep it anonymous and bounded: an
            -- erased parcel's reasons and errors may be blanked out (nothing else of the line changes), and
            -- a final parcel's lines may be removed with it (parcelctl prune).
            DROP TRIGGER events_no_update;
            CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            WHEN NOT (NEW.detail IS '(erased)' AND NEW.id = OLD.id AND NEW.parcel_id = OLD.parcel_id
                      AND NEW.kind = OLD.kind AND NEW.stage IS OLD.stage AND NEW.attempt IS OLD.attempt
                      AND NEW.worker IS OLD.worker AND NEW.at = OLD.at
                      AND EXISTS (SELECT 1 FROM parcels WHERE parcel_id = OLD.parcel_id AND erased_at IS NOT NULL))
            BEGIN
                SELECT RAISE(ABORT, 'events are append-only');
            END;

            DROP TRIGGER events_no_delete;
            CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            WHEN NOT EXISTS (SELECT 1 FROM parcels WHERE parcel_id = OLD.parcel_id
                             AND (state = 'held' OR state = 'delivered' OR state = 'dead_lettered'))
            BEGIN
                SELECT RAISE(ABORT, 'events are append-only while their parcel is on its way');
            END;
            """),
        SQLiteMigration(version: 4, summary: "review of held parcels: the returned state, released and returned events", sql: """
            -- A person reviews held parcels (parcelctl release, parcelctl return): a new final state,
            -- returned (to the sender), and two history kinds, released and returned. Any stage may now
            -- hold a parcel, which the stage column already allows. SQLite cannot change a CHECK in place:
            -- both tables are copied into new ones that replace them, as version 2 did, and the triggers
            -- are made again (returned is final: its history may be pruned with it).
            CREATE TABLE parcels_v4 (
                parcel_id    TEXT    NOT NULL PRIMARY KEY,
                -- The parcel as submitted (the task envelope's "parcel" JSON).
                parcel_json  TEXT    NOT NULL,
                -- The stage the parcel is at (for held and returned: where it was held); NULL while only submitted.
                stage        TEXT    CHECK (stage = 'collection' OR stage = 'packaging' OR stage = 'inspection'
                                            OR stage = 'delivery'),
                state        TEXT    NOT NULL
                                     CHECK (state = 'submitted' OR state = 'queued' OR state = 'processing'
                                            OR state = 'retrying' OR state = 'held' OR state = 'delivered'
                                            OR state = 'dead_lettered' OR state = 'returned'),
                stages_done  INTEGER NOT NULL CHECK (stages_done BETWEEN 0 AND 4),
                -- Attempts at the current stage.
                attempts     INTEGER NOT NULL CHECK (attempts >= 0),
                -- The last retry's error, or the hold, dead-letter or return reason.
                last_error   TEXT,
                -- Unix time in milliseconds.
                submitted_at INTEGER NOT NULL,
                updated_at   INTEGER NOT NULL,
                -- When the parcel's personal data was erased (version 3): parcel_json then holds only its id, and
                -- its reasons and errors read '(erased)', here and in its history.
                erased_at    INTEGER
            );

            INSERT INTO parcels_v4 SELECT parcel_id, parcel_json, stage, state, stages_done, attempts, last_error,
                submitted_at, updated_at, erased_at FROM parcels;

            CREATE TABLE events_v4 (
                -- A rowid: rising, because rows are only ever appended (no AUTOINCREMENT bookkeeping per insert).
                id        INTEGER PRIMARY KEY,
                parcel_id TEXT    NOT NULL REFERENCES parcels_v4 (parcel_id),
                kind      TEXT    NOT NULL
                                  CHECK (kind = 'submitted' OR kind = 'queued' OR kind = 'started'
                                         OR kind = 'completed' OR kind = 'retrying' OR kind = 'held'
                                         OR kind = 'delivered' OR kind = 'dead_lettered' OR kind = 'released'
                                         OR kind = 'returned'),
                stage     TEXT    CHECK (stage = 'collection' OR stage = 'packaging' OR stage = 'inspection'
                                         OR stage = 'delivery'),
                attempt   INTEGER,
                -- The error of a retry, the reason of a hold, dead letter or return, the note of a release.
                detail    TEXT,
                -- Which worker did it (host and process); for a release or return, the OS user who did it.
                worker    TEXT,
                -- Unix time in milliseconds.
                at        INTEGER NOT NULL
            );

            INSERT INTO events_v4 SELECT id, parcel_id, kind, stage, attempt, detail, worker, at FROM events;

            DROP TABLE events;
            DROP TABLE parcels;
            ALTER TABLE parcels_v4 RENAME TO parcels;
            ALTER TABLE events_v4 RENAME TO events;

            CREATE INDEX parcels_by_state ON parcels (state);
            CREATE INDEX events_by_parcel ON events (parcel_id, id);

            CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            WHEN NOT (NEW.detail IS '(erased)' AND NEW.id = OLD.id AND NEW.parcel_id = OLD.parcel_id
                      AND NEW.kind = OLD.kind AND NEW.stage IS OLD.stage AND NEW.attempt IS OLD.attempt
                      AND NEW.worker IS OLD.worker AND NEW.at = OLD.at
                      AND EXISTS (SELECT 1 FROM parcels WHERE parcel_id = OLD.parcel_id AND erased_at IS NOT NULL))
            BEGIN
                SELECT RAISE(ABORT, 'events are append-only');
            END;

            CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            WHEN NOT EXISTS (SELECT 1 FROM parcels WHERE parcel_id = OLD.parcel_id
                             AND (state = 'held' OR state = 'delivered' OR state = 'dead_lettered'
                                  OR state = 'returned'))
            BEGIN
                SELECT RAISE(ABORT, 'events are append-only while their parcel is on its way');
            END;
            """),
    ]

    static var latestVersion: Int { all.last?.version ?? 0 }

    /// Each migration's identifier in GRDB's `grdb_migrations`: its version, in decimal.
    static func identifier(_ version: Int) -> String { String(version) }

    /// The table in which ParcelFlow recorded each version before GRDB ran its migrations, and still
    /// does: a ParcelFlow from before then, sharing the file, reads it to refuse a file that a newer
    /// ParcelFlow migrated further.
    static let createVersionTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER NOT NULL PRIMARY KEY,
            applied_at INTEGER NOT NULL
        )
        """

    /// Brings the database up to ``latestVersion``; does nothing when it is there.
    ///
    /// GRDB's `DatabaseMigrator` applies each migration not yet in its table `grdb_migrations`, in a
    /// `BEGIN IMMEDIATE` transaction of its own that also records it there. Each migration, under that
    /// write lock:
    ///
    /// - refuses a database that a newer ParcelFlow migrated further (a version or migration this one
    ///   does not know), rather than write it with rules that may no longer hold (so does the read
    ///   before, which writes nothing, and the one after, for a newer ParcelFlow that got there first);
    /// - runs nothing when `schema_migrations` says the version is applied: a ParcelFlow from before
    ///   GRDB ran the migrations applied it, and GRDB now records it as applied (so a file at any
    ///   version written then goes on from where it is);
    /// - otherwise runs its SQL and records the version in `schema_migrations` too.
    ///
    /// Several processes may open a new file at once, and the migrator reads what is applied before it
    /// takes the write lock: a migration that finds itself applied meanwhile is rolled back, and the
    /// migrator runs again from what is applied now.
    ///
    /// Runs on the caller's thread (GRDB's synchronous API): call it from no thread of Swift's
    /// cooperative pool, since it may wait up to the busy timeout for another process.
    static func migrate(_ writer: DatabaseQueue, now: Int64) throws {
        // A cheap read first, so that a worker opening an up-to-date file takes no write lock.
        if try writer.read({ db in try Versions(db) }).isUpToDate { return }
        let migrator = migrator(now: now)
        // A round that ends in AppliedMeanwhile found a migration another process applied: there are
        // only so many of those.
        for round in 0...all.count {
            do {
                try migrator.migrate(writer)
                break
            } catch is AppliedMeanwhile where round < all.count {
                continue
            }
        }
        _ = try writer.read { db in try Versions(db) }
    }

    /// The migrations, for GRDB's migrator. Foreign keys stay on while they run, as they did before
    /// GRDB ran them (GRDB would otherwise turn them off and check them at the end).
    static func migrator(now: Int64) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in all {
            let identifier = identifier(migration.version)
            migrator.registerMigration(identifier, foreignKeyChecks: .immediate) { db in
                try db.execute(sql: createVersionTable)
                let versions = try Versions(db)
                if versions.applied.contains(identifier) { throw AppliedMeanwhile() }
                if versions.recorded.contains(migration.version) { return }
                try db.execute(sql: migration.sql)
                try db.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                           [.integer(Int64(migration.version)), .integer(now)], cache: false)
            }
        }
        return migrator
    }

    /// Another process applied the migration between the migrator's reading and its transaction.
    private struct AppliedMeanwhile: Error {}

    /// What the file's two tables of versions say.
    struct Versions {
        /// `schema_migrations`: every version applied, before GRDB ran the migrations and since.
        var recorded: Set<Int> = []
        /// `grdb_migrations`: the migrations GRDB knows applied.
        var applied: Set<String> = []

        /// Reads both tables; throws ``NewerDatabase`` when either names a version this ParcelFlow
        /// does not know.
        init(_ db: Database) throws {
            if try db.integer("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'") > 0 {
                try db.run("SELECT version FROM schema_migrations") { row in recorded.insert(Int(row.integer(0))) }
            }
            if try db.integer("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'grdb_migrations'") > 0 {
                try db.run("SELECT identifier FROM grdb_migrations") { row in applied.insert(row.text(0) ?? "") }
            }
            let known = Set(all.map { identifier($0.version) })
            let unknown = applied.subtracting(known)
            let newest = (Array(recorded) + unknown.compactMap { Int($0) }).max() ?? 0
            if newest > latestVersion {
                throw NewerDatabase(description: """
                    the database is at schema version \(newest), but this ParcelFlow knows versions up to \
                    \(latestVersion): a newer ParcelFlow wrote it. Upgrade ParcelFlow, or use another file.
                    """)
            }
            if !unknown.isEmpty {
                throw NewerDatabase(description: """
                    the database has schema migrations this ParcelFlow does not know (\(unknown.sorted().joined(separator: ", "))): \
                    a newer ParcelFlow wrote it. Upgrade ParcelFlow, or use another file.
                    """)
            }
        }

        var isUpToDate: Bool {
            applied.count == SQLiteMigrations.all.count
        }
    }

    /// A database that a newer ParcelFlow migrated further than this one knows.
    struct NewerDatabase: Error, CustomStringConvertible {
        let description: String
    }
}
