/// The PostgreSQL status store's schema, as versioned migrations: each a list of statements, applied
/// in order, in one transaction (``PostgresMigrations``). `schemas/sql/postgres.sql` is the same
/// schema for review, kept equal to what these create by `PostgresMigrationsTests`. Change the
/// schema with a new version, never by editing an applied one.
///
/// It mirrors the SQLite store's (`schemas/sql/sqlite.sql`, version 4): the same tables, columns,
/// checks and append-only history, in PostgreSQL's terms — `text IN (…)` checks, an identity column
/// for the history's order, and one trigger function where SQLite has two triggers.
enum PostgresSchema {
    /// The bookkeeping table, made before anything else (and never by a numbered version).
    static let migrationsTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer NOT NULL PRIMARY KEY,
            applied_at bigint  NOT NULL
        )
        """

    static let versions: [[String]] = [version1, version2]

    /// Version 1: parcels and their append-only history, as the SQLite store's version 3 has them.
    static let version1 = [
        """
        CREATE TABLE parcels (
            parcel_id    text    COLLATE "C" NOT NULL PRIMARY KEY,
            parcel_json  text    NOT NULL,
            stage        text    CHECK (stage IN ('collection', 'packaging', 'inspection', 'delivery')),
            state        text    NOT NULL CHECK (state IN ('submitted', 'queued', 'processing', 'retrying', 'held',
                                                           'delivered', 'dead_lettered')),
            stages_done  integer NOT NULL CHECK (stages_done BETWEEN 0 AND 4),
            attempts     integer NOT NULL CHECK (attempts >= 0),
            last_error   text,
            submitted_at bigint  NOT NULL,
            updated_at   bigint  NOT NULL,
            erased_at    bigint
        )
        """,
        "CREATE INDEX parcels_by_state ON parcels (state)",
        """
        CREATE TABLE events (
            id        bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            parcel_id text    COLLATE "C" NOT NULL REFERENCES parcels (parcel_id),
            kind      text    NOT NULL CHECK (kind IN ('submitted', 'queued', 'started', 'completed', 'retrying', 'held',
                                                       'delivered', 'dead_lettered')),
            stage     text    CHECK (stage IN ('collection', 'packaging', 'inspection', 'delivery')),
            attempt   integer,
            detail    text,
            worker    text,
            at        bigint  NOT NULL
        )
        """,
        "CREATE INDEX events_by_parcel ON events (parcel_id, id)",
        // Append-only, with the SQLite store's two exceptions: an erased parcel's reasons may read
        // '(erased)' (nothing else of the line changes), and a final parcel's lines may be removed.
        """
        CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF NEW.detail IS NOT DISTINCT FROM '(erased)' AND NEW.id = OLD.id AND NEW.parcel_id = OLD.parcel_id
                   AND NEW.kind = OLD.kind AND NEW.stage IS NOT DISTINCT FROM OLD.stage
                   AND NEW.attempt IS NOT DISTINCT FROM OLD.attempt AND NEW.worker IS NOT DISTINCT FROM OLD.worker
                   AND NEW.at = OLD.at
                   AND EXISTS (SELECT 1 FROM parcels WHERE parcel_id = OLD.parcel_id AND erased_at IS NOT NULL) THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'events are append-only';
            END IF;
            IF EXISTS (SELECT 1 FROM parcels WHERE parcel_id = OLD.parcel_id
                       AND state IN ('held', 'delivered', 'dead_lettered')) THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'events are append-only while their parcel is on its way';
        END
        $$
        """,
        """
        CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION events_append_only()
        """,
    ]

    /// Version 2, as the SQLite store's version 4: the review of held parcels. A new final state,
    /// returned (to the sender), and the history's released and returned lines; returned counts as
    /// final for pruning. The checks keep their names (PostgreSQL's own, from version 1).
    static let version2 = [
        """
        ALTER TABLE parcels DROP CONSTRAINT parcels_state_check,
            ADD CONSTRAINT parcels_state_check CHECK (state IN ('submitted', 'queued', 'processing', 'retrying', 'held',
                                                                'delivered', 'dead_lettered', 'returned'))
        """,
        """
        ALTER TABLE events DROP CONSTRAINT events_kind_check,
            ADD CONSTRAINT events_kind_check CHECK (kind IN ('submitted', 'queued', 'started', 'completed', 'retrying',
                                                             'held', 'delivered', 'dead_lettered', 'released', 'returned'))
        """,
        """
        CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF NEW.detail IS NOT DISTINCT FROM '(erased)' AND NEW.id = OLD.id AND NEW.parcel_id = OLD.parcel_id
                   AND NEW.kind = OLD.kind AND NEW.stage IS NOT DISTINCT FROM OLD.stage
                   AND NEW.attempt IS NOT DISTINCT FROM OLD.attempt AND NEW.worker IS NOT DISTINCT FROM OLD.worker
                   AND NEW.at = OLD.at
                   AND EXISTS (SELECT 1 FROM parcels WHERE parcel_id = OLD.parcel_id AND erased_at IS NOT NULL) THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'events are append-only';
            END IF;
            IF EXISTS (SELECT 1 FROM parcels WHERE parcel_id = OLD.parcel_id
                       AND state IN ('held', 'delivered', 'dead_lettered', 'returned')) THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'events are append-only while their parcel is on its way';
        END
        $$
        """,
    ]
}
