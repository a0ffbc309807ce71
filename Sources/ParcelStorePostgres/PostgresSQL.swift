import PostgresNIO

/// The SQL of the PostgreSQL store, in one place. A batch travels as arrays, one per column, read back
/// with `unnest`: one statement per batch, not one per parcel. Times are unix milliseconds (bigint),
/// as in the SQLite store, so the two read the same.
enum PostgresSQL {
    // MARK: Writing

    /// Inserts the parcels ($1 ids, $2 task JSON, $3 the time) that are new; returns one row per parcel
    /// given: whether this statement created it, else the row it already had (none when another
    /// submitter's insert of the same id committed while this one ran: re-read it).
    static let submit = """
        WITH input AS (
            SELECT parcel_id, parcel_json, n FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS i (parcel_id, parcel_json, n)
        ), inserted AS (
            INSERT INTO parcels (parcel_id, parcel_json, stage, state, stages_done, attempts, last_error, submitted_at, updated_at)
            SELECT parcel_id, parcel_json, NULL, 'submitted', 0, 0, NULL, $3, $3 FROM input ORDER BY n
            ON CONFLICT (parcel_id) DO NOTHING
            RETURNING parcel_id
        )
        SELECT i.parcel_id, ins.parcel_id IS NOT NULL, p.state, p.stage, p.stages_done, p.attempts, p.last_error,
               p.parcel_json, p.erased_at IS NOT NULL
        FROM input AS i
        LEFT JOIN inserted AS ins ON ins.parcel_id = i.parcel_id
        LEFT JOIN parcels AS p ON p.parcel_id = i.parcel_id
        ORDER BY i.n
        """

    /// The rows ($1 ids) a batch of changes starts from.
    static let selectProgress = """
        SELECT parcel_id, state, stage, stages_done, attempts, last_error, parcel_json, erased_at IS NOT NULL
        FROM parcels WHERE parcel_id = ANY($1::text[])
        """

    /// Writes a batch of changes, all or nothing: locks the batch's parcels' rows (in id order, so two
    /// batches never wait on each other in a circle) if each still holds what the batch was computed
    /// from ($1 ids; $2–$6 state, stage, stages_done, attempts, last_error as read), and only if every
    /// one does, updates the changed ones ($7 ids, $8–$13: where each ends, and when) and appends the
    /// history ($14–$20). Returns whether it wrote. A row another worker changed meanwhile is seen as
    /// changed after its commit (READ COMMITTED re-checks a locked row's newest version), so two
    /// workers settling the same task can never both apply it: the second writes nothing and computes
    /// again. Rows left unchanged are checked too: the batch's outcomes for them ("duplicate",
    /// "stale") rest on what was read, which may come from the store's memory of its last reads.
    static let applyIfUnchanged = """
        WITH expected AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])
                AS e (parcel_id, state, stage, stages_done, attempts, last_error)
        ), locked AS (
            SELECT p.parcel_id FROM parcels AS p JOIN expected AS e ON e.parcel_id = p.parcel_id
            WHERE p.state = e.state AND p.stage IS NOT DISTINCT FROM e.stage AND p.stages_done = e.stages_done
              AND p.attempts = e.attempts AND p.last_error IS NOT DISTINCT FROM e.last_error
            ORDER BY p.parcel_id
            FOR UPDATE OF p
        ), unchanged AS (
            SELECT (SELECT count(*) FROM locked) = (SELECT count(*) FROM expected) AS yes
        ), updated AS (
            UPDATE parcels AS p
            SET state = n.state, stage = n.stage, stages_done = n.stages_done, attempts = n.attempts,
                last_error = n.last_error, updated_at = n.updated_at
            FROM unnest($7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::text[], $13::bigint[])
                AS n (parcel_id, state, stage, stages_done, attempts, last_error, updated_at)
            WHERE p.parcel_id = n.parcel_id AND (SELECT yes FROM unchanged)
            RETURNING 1
        ), appended AS (
            INSERT INTO events (parcel_id, kind, stage, attempt, detail, worker, at)
            SELECT parcel_id, kind, stage, attempt, detail, worker, at
            FROM unnest($14::text[], $15::text[], $16::text[], $17::bigint[], $18::text[], $19::text[], $20::bigint[])
                WITH ORDINALITY AS v (parcel_id, kind, stage, attempt, detail, worker, at, n)
            WHERE (SELECT yes FROM unchanged)
            ORDER BY n
            RETURNING 1
        )
        SELECT (SELECT yes FROM unchanged), (SELECT count(*) FROM updated), (SELECT count(*) FROM appended)
        """

    // MARK: Reading

    /// Each parcel ($1 ids) with its progress, and whether the copy given ($2, as TaskEnvelope.encode
    /// writes it) is the one submitted.
    static let check = """
        SELECT p.parcel_id, p.state, p.stage, p.stages_done, p.attempts, p.last_error,
               p.parcel_json = i.parcel_json OR p.erased_at IS NOT NULL
        FROM unnest($1::text[], $2::text[]) AS i (parcel_id, parcel_json)
        JOIN parcels AS p ON p.parcel_id = i.parcel_id
        """

    static let selectRecord = """
        SELECT state, stage, stages_done, attempts, last_error, parcel_json, submitted_at, updated_at, erased_at
        FROM parcels WHERE parcel_id = $1
        """

    /// The submission (from the parcel's row), then the events in order.
    static let selectHistory = """
        SELECT 'submitted' AS kind, NULL::text AS stage, NULL::integer AS attempt, NULL::text AS detail,
               NULL::text AS worker, submitted_at AS at, 0 AS part, 0::bigint AS id
        FROM parcels WHERE parcel_id = $1
        UNION ALL
        SELECT kind, stage, attempt, detail, worker, at, 1, id FROM events WHERE parcel_id = $1 AND kind <> 'submitted'
        ORDER BY part, id
        """

    /// ``selectHistory`` for the parcels of the id array $1, each parcel's lines together.
    static let selectHistories = """
        SELECT parcel_id, kind, stage, attempt, detail, worker, at FROM (
            SELECT parcel_id, 'submitted' AS kind, NULL::text AS stage, NULL::integer AS attempt, NULL::text AS detail,
                   NULL::text AS worker, submitted_at AS at, 0 AS part, 0::bigint AS id
            FROM parcels WHERE parcel_id = ANY($1::text[])
            UNION ALL
            SELECT parcel_id, kind, stage, attempt, detail, worker, at, 1, id FROM events
            WHERE parcel_id = ANY($1::text[]) AND kind <> 'submitted') AS lines
        ORDER BY parcel_id, part, id
        """

    static let countByState = "SELECT state, count(*) FROM parcels GROUP BY state"
    /// Ids starting with $1 sort from $1 up to $1 followed by the highest code point: the primary
    /// key's range (its collation is "C", byte order).
    static let countByStateWithPrefix = """
        SELECT state, count(*) FROM parcels WHERE parcel_id >= $1 AND parcel_id < $1 || chr(1114111) GROUP BY state
        """

    /// As the SQLite store's: the history lines after $1, of the parcels whose id starts with $2 (all when
    /// NULL), counted as ``ParcelEvent/finalChange`` counts them ($3: a replay's detail).
    static let finalChange = """
        SELECT max(id), coalesce(sum(CASE
            WHEN $2::text IS NOT NULL AND NOT starts_with(parcel_id, $2) THEN 0
            WHEN kind IN ('delivered', 'held', 'dead_lettered') THEN 1
            WHEN kind = 'released' OR (kind = 'queued' AND detail = $3) THEN -1
            ELSE 0 END), 0)::bigint
        FROM events WHERE id > $1
        """

    static let tableBytes = "SELECT (pg_total_relation_size('parcels') + pg_total_relation_size('events'))::bigint"

    // The report's readings. $1 and $2 bound a period in unix milliseconds.
    static let countGroups = "SELECT stage, state, stages_done, count(*) FROM parcels GROUP BY stage, state, stages_done"
    /// The deliveries in [$1, $2): when each came, and how long after its submit; and when each since
    /// $3 came. Arrays in one row, not a row each, from one pass over the delivered parcels: a month's
    /// 200,000 deliveries decode in milliseconds where rows took 0.57 CPU-s, and the recent ones cost
    /// no second pass (together the report read 0.83 s, over its 0.5 s goal).
    static let deliveries = """
        SELECT coalesce(array_agg(updated_at) FILTER (WHERE updated_at >= $1 AND updated_at < $2), '{}'),
               coalesce(array_agg(updated_at - submitted_at) FILTER (WHERE updated_at >= $1 AND updated_at < $2), '{}'),
               coalesce(array_agg(updated_at) FILTER (WHERE updated_at >= $3), '{}')
        FROM parcels WHERE state = 'delivered' AND ((updated_at >= $1 AND updated_at < $2) OR updated_at >= $3)
        """
    static let countDeliveries = """
        SELECT count(*) FROM parcels WHERE state = 'delivered' AND updated_at >= $1 AND updated_at < $2
        """
    /// As the SQLite store's: each stage finished in the period, and how long after it was queued
    /// (collection: after the parcel's submit). Of the stage $3 (all when NULL), the latest $4 (all
    /// when NULL), found by walking the history back from its newest line.
    static let stageLatencies = """
        SELECT done.stage, done.at - CASE WHEN done.stage = 'collection'
            THEN (SELECT submitted_at FROM parcels WHERE parcel_id = done.parcel_id)
            ELSE (SELECT min(start.at) FROM events AS start
                  WHERE start.parcel_id = done.parcel_id
                    AND ((start.kind = 'queued' AND start.stage = done.stage)
                         OR (start.kind = 'completed' AND start.stage = CASE done.stage
                                WHEN 'packaging' THEN 'collection' WHEN 'inspection' THEN 'packaging'
                                WHEN 'delivery' THEN 'inspection' END))) END
        FROM (SELECT parcel_id, stage, at FROM events
              WHERE kind IN ('completed', 'delivered') AND at >= $1 AND at < $2 AND ($3::text IS NULL OR stage = $3)
              ORDER BY id DESC LIMIT $4) AS done
        """
    /// A parcel's row changes no more while it is held: its updated_at is when it was held.
    static let holds = """
        SELECT parcel_id, stage, last_error, updated_at FROM parcels WHERE state = 'held'
        ORDER BY updated_at, parcel_id LIMIT $1
        """
    static let countHeld = "SELECT count(*) FROM parcels WHERE state = 'held'"
    /// A returned parcel's row is final: its updated_at is when it was returned.
    static let countReturned = """
        SELECT count(*) FROM parcels WHERE state = 'returned' AND updated_at >= $1 AND updated_at < $2
        """
    static let oldestWaiting = """
        SELECT stage, min(updated_at) FROM parcels WHERE state IN ('queued', 'retrying') GROUP BY stage
        """
    static let attention = """
        SELECT parcel_id, state, stage, last_error, updated_at FROM parcels WHERE state IN ('held', 'dead_lettered')
        ORDER BY updated_at DESC, parcel_id DESC LIMIT $1
        """

    // The load test's audit, of the parcels whose id starts with $1 (all when NULL).
    static let appliedTwice = """
        SELECT DISTINCT parcel_id FROM events
        WHERE kind IN ('completed', 'delivered') AND ($1::text IS NULL OR starts_with(parcel_id, $1))
        GROUP BY parcel_id, stage HAVING count(*) > 1 ORDER BY parcel_id
        """
    static let countEvents = """
        SELECT kind, count(*) FROM events
        WHERE kind IN ('started', 'retrying') AND ($1::text IS NULL OR starts_with(parcel_id, $1)) GROUP BY kind
        """
    static let auditParcels = """
        SELECT state, stages_done, count(*),
               max(CASE WHEN state IN ('held', 'delivered', 'dead_lettered', 'returned') THEN updated_at END)
        FROM parcels WHERE $1::text IS NULL OR starts_with(parcel_id, $1) GROUP BY state, stages_done
        """

    // MARK: Retention

    /// The parcels ($1 ids) to erase, locked until the erasure commits.
    static let selectForErasure = """
        SELECT parcel_id, state, stage, stages_done, attempts, last_error, erased_at
        FROM parcels WHERE parcel_id = ANY($1::text[]) ORDER BY parcel_id FOR UPDATE
        """
    /// $1 ids, $2 what each parcel's JSON becomes, $3 the time.
    static let eraseParcels = """
        UPDATE parcels AS p SET parcel_json = a.parcel_json, erased_at = $3,
            last_error = CASE WHEN p.last_error IS NULL THEN NULL ELSE '(erased)' END
        FROM unnest($1::text[], $2::text[]) AS a (parcel_id, parcel_json)
        WHERE p.parcel_id = a.parcel_id
        """
    static let eraseHistory = """
        UPDATE events SET detail = '(erased)' WHERE parcel_id = ANY($1::text[]) AND detail IS NOT NULL
        """
    /// Up to $2 final parcels last changed before $1, locked; rows another pruner holds are skipped.
    static let selectFinishedBefore = """
        SELECT parcel_id FROM parcels
        WHERE state IN ('held', 'delivered', 'dead_lettered', 'returned') AND updated_at < $1
        ORDER BY parcel_id LIMIT $2 FOR UPDATE SKIP LOCKED
        """
    static let deleteHistory = "DELETE FROM events WHERE parcel_id = ANY($1::text[])"
    static let deleteParcels = "DELETE FROM parcels WHERE parcel_id = ANY($1::text[])"
}

// The statements of a worker's every batch, prepared once per connection: PostgreSQL then parses
// and plans each once instead of at every batch.

struct ApplyIfUnchanged: PostgresPreparedStatement {
    static let name = "parcelflow_apply_if_unchanged_v1"
    static let sql = PostgresSQL.applyIfUnchanged
    typealias Row = (Bool, Int, Int)
    let bindings: PostgresBindings

    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

struct CheckParcels: PostgresPreparedStatement {
    static let name = "parcelflow_check_v1"
    static let sql = PostgresSQL.check
    typealias Row = (String, String, String?, Int, Int, String?, Bool)
    let bindings: PostgresBindings

    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

struct SelectProgress: PostgresPreparedStatement {
    static let name = "parcelflow_select_progress_v1"
    static let sql = PostgresSQL.selectProgress
    typealias Row = (String, String, String?, Int, Int, String?, String, Bool)
    let bindings: PostgresBindings

    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
