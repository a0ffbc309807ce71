import ParcelCore

/// One step of the schema's history. A migration is never edited once released: a change is a new
/// migration with the next version. `schemas/sql/sqlite.sql` shows what they add up to, and a test
/// keeps the two equal.
struct SQLiteMigration: Sendable {
    let version: Int
    let summary: String
    let sql: String
}

enum SQLiteMigrations {
    static let all: [SQLiteMigration] = [
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
    ]

    static var latestVersion: Int { all.last?.version ?? 0 }

    /// Brings the database up to ``latestVersion``, in one transaction; does nothing when it is there.
    ///
    /// Several processes may open a new file at once: the check is repeated under the write lock, so
    /// only the first one migrates. A database that a newer ParcelFlow has migrated further is refused
    /// rather than written with rules that may no longer hold.
    static func migrate(_ connection: SQLiteConnection, now: Int64) throws(StatusStoreError) {
        let operation = "open \(connection.path)"
        // A cheap read first, so that a worker opening an up-to-date file takes no write lock.
        guard try version(connection, operation) != latestVersion else { return }
        try connection.transaction(operation) { () throws(StatusStoreError) in
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    INTEGER NOT NULL PRIMARY KEY,
                    applied_at INTEGER NOT NULL
                )
                """, operation: operation, cache: false)
            let current = try version(connection, operation)
            for migration in all where migration.version > current {
                let step = "\(operation): migrate to schema version \(migration.version) (\(migration.summary))"
                try connection.executeScript(migration.sql, operation: step)
                try connection.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                                       [.integer(Int64(migration.version)), .integer(now)], operation: step, cache: false)
            }
        }
    }

    /// The schema version the file is at: 0 for a new file.
    private static func version(_ connection: SQLiteConnection, _ operation: String) throws(StatusStoreError) -> Int {
        let hasTable = try connection.scalarInteger(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            operation: operation)
        guard hasTable > 0 else { return 0 }
        let version = Int(try connection.scalarInteger("SELECT max(version) FROM schema_migrations", operation: operation))
        guard version <= latestVersion else {
            throw StatusStoreError(operation, """
                the database is at schema version \(version), but this ParcelFlow knows versions up to \
                \(latestVersion): a newer ParcelFlow wrote it. Upgrade ParcelFlow, or use another file.
                """)
        }
        return version
    }
}
