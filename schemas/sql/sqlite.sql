-- ParcelFlow status store, SQLite (PARCELFLOW_STORE=sqlite:PATH): the schema that the migrations in
-- Sources/ParcelStoreSQLite/SQLiteMigrations.swift create (run by GRDB's DatabaseMigrator), for
-- review. A test keeps this file equal to what a new database holds; change the schema with a new
-- migration, then here.
--
-- The connection runs in WAL mode with synchronous = NORMAL, foreign_keys = ON and a busy timeout,
-- so several worker processes share one file. Times are INTEGER unix milliseconds.

-- One row per applied migration (version 1 ... latest). Kept since GRDB runs the migrations, for
-- the ParcelFlow releases from before, which read it to refuse a file a newer release migrated.
CREATE TABLE schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    applied_at INTEGER NOT NULL
);

-- GRDB's own record of the migrations its DatabaseMigrator applied: each version, in decimal ('1' ...).
-- A file from before GRDB has schema_migrations only; each of its versions is recorded here on opening.
CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);

-- Parcels and their append-only history (version 1; version 2 wrote the CHECK lists as chains of OR,
-- which SQLite checks without building a temporary index per statement; version 4 added the returned
-- state and the released and returned events, for the review of held parcels).

CREATE TABLE parcels (
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

-- countsByState, and the report's "how many are where".
CREATE INDEX parcels_by_state ON parcels (state);

-- A parcel's history is its submission (parcels.submitted_at) followed by these rows, oldest first.
CREATE TABLE events (
    -- A rowid: rising, because rows are only ever appended (no AUTOINCREMENT bookkeeping per insert).
    id        INTEGER PRIMARY KEY,
    parcel_id TEXT    NOT NULL REFERENCES parcels (parcel_id),
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

-- A parcel's history, oldest first.
CREATE INDEX events_by_parcel ON events (parcel_id, id);

-- The history is append-only (version 3; version 4 counts returned as final), with two exceptions that keep it anonymous and bounded: an
-- erased parcel's reasons and errors may be blanked out (nothing else of the line changes), and a
-- final parcel's lines may be removed with it (parcelctl prune).
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
