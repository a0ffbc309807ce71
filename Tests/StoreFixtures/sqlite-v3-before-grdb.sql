-- A status store file written by ParcelFlow before GRDB ran its SQLite store (commit 1e81306: the
-- hand-written SQLite layer and migrator, schema version 3, versions in schema_migrations only), by
--     parcelflow-store-writer status.db OLD 4
-- and dumped with Python's sqlite3 (Connection.iterdump). SQLiteStatusStoreTests opens it with today's
-- store. Never regenerate it with a newer ParcelFlow: it stands for the files already out there.
BEGIN TRANSACTION;
CREATE TABLE "events" (
    -- A rowid: rising, because rows are only ever appended (no AUTOINCREMENT bookkeeping per insert).
    id        INTEGER PRIMARY KEY,
    parcel_id TEXT    NOT NULL REFERENCES "parcels" (parcel_id),
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
INSERT INTO "events" VALUES(1,'OLD-0','queued','collection',NULL,NULL,'OLD/6195',1796451789081);
INSERT INTO "events" VALUES(2,'OLD-0','started','collection',1,NULL,'OLD/6195',1796451789081);
INSERT INTO "events" VALUES(3,'OLD-0','completed','collection',NULL,NULL,'OLD/6195',1796451789081);
INSERT INTO "events" VALUES(4,'OLD-0','started','packaging',1,NULL,'OLD/6195',1796451789082);
INSERT INTO "events" VALUES(5,'OLD-0','retrying','packaging',1,'scanner offline','OLD/6195',1796451789082);
INSERT INTO "events" VALUES(6,'OLD-0','started','packaging',2,NULL,'OLD/6195',1796451789082);
INSERT INTO "events" VALUES(7,'OLD-0','completed','packaging',NULL,NULL,'OLD/6195',1796451789082);
INSERT INTO "events" VALUES(8,'OLD-0','started','inspection',1,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(9,'OLD-0','completed','inspection',NULL,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(10,'OLD-0','started','delivery',1,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(11,'OLD-0','delivered','delivery',NULL,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(12,'OLD-1','queued','collection',NULL,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(13,'OLD-1','started','collection',1,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(14,'OLD-1','completed','collection',NULL,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(15,'OLD-1','started','packaging',1,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(16,'OLD-1','completed','packaging',NULL,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(17,'OLD-1','started','inspection',1,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(18,'OLD-1','completed','inspection',NULL,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(19,'OLD-1','started','delivery',1,NULL,'OLD/6195',1796451789083);
INSERT INTO "events" VALUES(20,'OLD-1','delivered','delivery',NULL,NULL,'OLD/6195',1796451789084);
INSERT INTO "events" VALUES(21,'OLD-2','queued','collection',NULL,NULL,'OLD/6195',1796451789084);
INSERT INTO "events" VALUES(22,'OLD-2','started','collection',1,NULL,'OLD/6195',1796451789084);
INSERT INTO "events" VALUES(23,'OLD-2','completed','collection',NULL,NULL,'OLD/6195',1796451789084);
INSERT INTO "events" VALUES(24,'OLD-2','started','packaging',1,NULL,'OLD/6195',1796451789084);
INSERT INTO "events" VALUES(25,'OLD-2','completed','packaging',NULL,NULL,'OLD/6195',1796451789084);
INSERT INTO "events" VALUES(26,'OLD-2','started','inspection',1,NULL,'OLD/6195',1796451789084);
INSERT INTO "events" VALUES(27,'OLD-2','completed','inspection',NULL,NULL,'OLD/6195',1796451789084);
INSERT INTO "events" VALUES(28,'OLD-2','started','delivery',1,NULL,'OLD/6195',1796451789084);
INSERT INTO "events" VALUES(29,'OLD-2','delivered','delivery',NULL,NULL,'OLD/6195',1796451789084);
INSERT INTO "events" VALUES(30,'OLD-3','queued','collection',NULL,NULL,'OLD/6195',1796451789084);
INSERT INTO "events" VALUES(31,'OLD-3','started','collection',1,NULL,'OLD/6195',1796451789085);
INSERT INTO "events" VALUES(32,'OLD-3','completed','collection',NULL,NULL,'OLD/6195',1796451789085);
INSERT INTO "events" VALUES(33,'OLD-3','started','packaging',1,NULL,'OLD/6195',1796451789085);
INSERT INTO "events" VALUES(34,'OLD-3','retrying','packaging',1,'scanner offline','OLD/6195',1796451789085);
INSERT INTO "events" VALUES(35,'OLD-3','started','packaging',2,NULL,'OLD/6195',1796451789085);
INSERT INTO "events" VALUES(36,'OLD-3','completed','packaging',NULL,NULL,'OLD/6195',1796451789085);
INSERT INTO "events" VALUES(37,'OLD-3','started','inspection',1,NULL,'OLD/6195',1796451789085);
INSERT INTO "events" VALUES(38,'OLD-3','completed','inspection',NULL,NULL,'OLD/6195',1796451789085);
INSERT INTO "events" VALUES(39,'OLD-3','started','delivery',1,NULL,'OLD/6195',1796451789085);
INSERT INTO "events" VALUES(40,'OLD-3','delivered','delivery',NULL,NULL,'OLD/6195',1796451789085);
CREATE TABLE "parcels" (
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
, erased_at INTEGER);
INSERT INTO "parcels" VALUES('OLD-0','{"id":"OLD-0","sender":{"name":"Test Sender","relation":"friend"},"recipient":{"name":"Test Recipient","facility":"Station 7"},"contents":{"letters":1,"drawings":1},"weight_grams":90,"origin":"depot-test"}','delivery','delivered',4,0,'scanner offline',1796451789081,1796451789083,NULL);
INSERT INTO "parcels" VALUES('OLD-1','{"id":"OLD-1","sender":{"name":"Test Sender","relation":"friend"},"recipient":{"name":"Test Recipient","facility":"Station 7"},"contents":{"letters":1,"drawings":1},"weight_grams":90,"origin":"depot-test"}','delivery','delivered',4,0,NULL,1796451789083,1796451789084,NULL);
INSERT INTO "parcels" VALUES('OLD-2','{"id":"OLD-2","sender":{"name":"Test Sender","relation":"friend"},"recipient":{"name":"Test Recipient","facility":"Station 7"},"contents":{"letters":1,"drawings":1},"weight_grams":90,"origin":"depot-test"}','delivery','delivered',4,0,NULL,1796451789084,1796451789084,NULL);
INSERT INTO "parcels" VALUES('OLD-3','{"id":"OLD-3","sender":{"name":"Test Sender","relation":"friend"},"recipient":{"name":"Test Recipient","facility":"Station 7"},"contents":{"letters":1,"drawings":1},"weight_grams":90,"origin":"depot-test"}','delivery','delivered',4,0,'scanner offline',1796451789084,1796451789085,NULL);
CREATE TABLE schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    applied_at INTEGER NOT NULL
);
INSERT INTO "schema_migrations" VALUES(1,1796451789076);
INSERT INTO "schema_migrations" VALUES(2,1796451789076);
INSERT INTO "schema_migrations" VALUES(3,1796451789076);
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
                 AND (state = 'held' OR state = 'delivered' OR state = 'dead_lettered'))
BEGIN
    SELECT RAISE(ABORT, 'events are append-only while their parcel is on its way');
END;
COMMIT;
