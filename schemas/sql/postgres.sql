-- ParcelFlow status store, PostgreSQL (PARCELFLOW_STORE=postgres://USER@HOST:PORT/DB): the schema that
-- the migrations in Sources/ParcelStorePostgres/PostgresSchema.swift create, for review. A test keeps
-- this file equal to what a new database holds (pg_dump of both); change the schema with a new
-- migration, then here. Times are bigint unix milliseconds, as in schemas/sql/sqlite.sql.

-- One row per applied migration (version 1 ... latest); applied under an advisory lock, all missing
-- versions in one transaction.
CREATE TABLE schema_migrations (
    version    integer NOT NULL PRIMARY KEY,
    applied_at bigint  NOT NULL
);

-- Version 1: parcels and their append-only history, as the SQLite store's version 3 has them; version 2
-- (as the SQLite store's version 4) added the returned state and the released and returned lines, for
-- the review of held parcels, and counts returned as final in the history's trigger.

CREATE TABLE parcels (
    parcel_id    text    COLLATE "C" NOT NULL PRIMARY KEY,
    parcel_json  text    NOT NULL,
    stage        text    CHECK (stage IN ('collection', 'packaging', 'inspection', 'delivery')),
    state        text    NOT NULL CHECK (state IN ('submitted', 'queued', 'processing', 'retrying', 'held',
                                                   'delivered', 'dead_lettered', 'returned')),
    stages_done  integer NOT NULL CHECK (stages_done BETWEEN 0 AND 4),
    attempts     integer NOT NULL CHECK (attempts >= 0),
    last_error   text,
    submitted_at bigint  NOT NULL,
    updated_at   bigint  NOT NULL,
    erased_at    bigint
);

CREATE INDEX parcels_by_state ON parcels (state);

CREATE TABLE events (
    id        bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parcel_id text    COLLATE "C" NOT NULL REFERENCES parcels (parcel_id),
    kind      text    NOT NULL CHECK (kind IN ('submitted', 'queued', 'started', 'completed', 'retrying', 'held',
                                               'delivered', 'dead_lettered', 'released', 'returned')),
    stage     text    CHECK (stage IN ('collection', 'packaging', 'inspection', 'delivery')),
    attempt   integer,
    detail    text,
    worker    text,
    at        bigint  NOT NULL
);

CREATE INDEX events_by_parcel ON events (parcel_id, id);

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
               AND state IN ('held', 'delivered', 'dead_lettered', 'returned')) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'events are append-only while their parcel is on its way';
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
