import Foundation
import ParcelCore

/// The SQL of the store's queries, in one place. Each is prepared once per connection (GRDB's statement cache).
enum SQL {
    static let insertParcel = """
        INSERT INTO parcels (parcel_id, parcel_json, stage, state, stages_done, attempts, last_error, submitted_at, updated_at)
        VALUES (?, ?, NULL, 'submitted', 0, 0, NULL, ?, ?)
        ON CONFLICT (parcel_id) DO NOTHING
        """
    static let selectProgress = """
        SELECT state, stage, stages_done, attempts, last_error, parcel_json FROM parcels WHERE parcel_id = ?
        """
    /// A parcel's progress for applying transitions (no parcel_json: they do not need it).
    static let selectProgressOfOne = """
        SELECT state, stage, stages_done, attempts, last_error, '' FROM parcels WHERE parcel_id = ?
        """
    /// A parcel's progress, and whether the copy given (?2, as ``TaskEnvelope/encode(_:)`` writes it) is
    /// the one submitted.
    static let checkOne = """
        SELECT state, stage, stages_done, attempts, last_error, '', parcel_json = ?2 OR erased_at IS NOT NULL
        FROM parcels WHERE parcel_id = ?1
        """
    static let updateProgress = """
        UPDATE parcels SET state = ?, stage = ?, stages_done = ?, attempts = ?, last_error = ?, updated_at = ?
        WHERE parcel_id = ?
        """
    static let selectRecord = """
        SELECT state, stage, stages_done, attempts, last_error, parcel_json, submitted_at, updated_at, erased_at
        FROM parcels WHERE parcel_id = ?
        """
    static let insertEvent = """
        INSERT INTO events (parcel_id, kind, stage, attempt, detail, worker, at) VALUES (?, ?, ?, ?, ?, ?, ?)
        """
    /// The submission (from the parcel's row) and then the events, in order. Databases written before
    /// the submission moved to the row hold a "submitted" event too; it is skipped, not shown twice.
    static let selectHistory = """
        SELECT 'submitted', NULL, NULL, NULL, NULL, submitted_at, 0 AS part, 0 AS id FROM parcels WHERE parcel_id = ?1
        UNION ALL
        SELECT kind, stage, attempt, detail, worker, at, 1, id FROM events WHERE parcel_id = ?1 AND kind <> 'submitted'
        ORDER BY part, id
        """
    static let countByState = "SELECT state, count(*) FROM parcels GROUP BY state"
    /// Ids starting with ?1 sort from ?1 up to ?1 followed by the highest code point.
    static let countByStateWithPrefix = """
        SELECT state, count(*) FROM parcels WHERE parcel_id >= ?1 AND parcel_id < ?1 || char(1114111) GROUP BY state
        """

    /// The load test's poll (finalChange): the history lines after ?1 (the primary key's range), of the
    /// parcels whose id starts with ?2 (all when NULL), counted as ``ParcelEvent/finalChange`` counts them
    /// (?3: a replay's detail); the highest line read, NULL when there is none.
    static let finalChange = """
        SELECT max(id), coalesce(sum(CASE
            WHEN ?2 IS NOT NULL AND substr(parcel_id, 1, length(?2)) <> ?2 THEN 0
            WHEN kind IN ('delivered', 'held', 'dead_lettered') THEN 1
            WHEN kind = 'released' OR (kind = 'queued' AND detail = ?3) THEN -1
            ELSE 0 END), 0)
        FROM events WHERE id > ?1
        """

    // The report's readings (SQLiteStatusStore.snapshot). ?1 and ?2 bound a period in unix milliseconds.
    static let countGroups = "SELECT stage, state, stages_done, count(*) FROM parcels GROUP BY stage, state, stages_done"
    /// A delivered parcel's row is final: its updated_at is when it was delivered.
    static let deliveries = """
        SELECT updated_at, submitted_at FROM parcels WHERE state = 'delivered' AND updated_at >= ?1 AND updated_at < ?2
        """
    static let countDeliveries = """
        SELECT count(*) FROM parcels WHERE state = 'delivered' AND updated_at >= ?1 AND updated_at < ?2
        """
    /// Each stage finished in the period, and how long after it was queued: collection from the
    /// parcel's submit (always there: a worker may complete collection before the submitter records
    /// "queued", which then writes nothing); a later stage from its first "queued" line (a replay) or
    /// else the previous stage's "completed" line (a worker that completes a stage queues the next one
    /// in the same write). Of the stage ?3 (all when NULL), the latest ?4 (all when -1), found by
    /// walking the history back from its newest line.
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
              WHERE kind IN ('completed', 'delivered') AND at >= ?1 AND at < ?2 AND (?3 IS NULL OR stage = ?3)
              ORDER BY id DESC LIMIT ?4) AS done
        """
    // The load test's audit, of the parcels whose id starts with ?1 (all when NULL).
    static let appliedTwice = """
        SELECT DISTINCT parcel_id FROM events
        WHERE kind IN ('completed', 'delivered') AND (?1 IS NULL OR substr(parcel_id, 1, length(?1)) = ?1)
        GROUP BY parcel_id, stage HAVING count(*) > 1 ORDER BY parcel_id
        """
    static let countEvents = """
        SELECT kind, count(*) FROM events
        WHERE kind IN ('started', 'retrying') AND (?1 IS NULL OR substr(parcel_id, 1, length(?1)) = ?1) GROUP BY kind
        """
    static let auditParcels = """
        SELECT state, stages_done, count(*),
               max(CASE WHEN state IN ('held', 'delivered', 'dead_lettered', 'returned') THEN updated_at END)
        FROM parcels WHERE ?1 IS NULL OR substr(parcel_id, 1, length(?1)) = ?1 GROUP BY state, stages_done
        """
    /// A parcel's row changes no more while it is held: its updated_at is when it was held.
    static let holds = """
        SELECT parcel_id, stage, last_error, updated_at FROM parcels WHERE state = 'held'
        ORDER BY updated_at, parcel_id LIMIT ?1
        """
    static let countHeld = "SELECT count(*) FROM parcels WHERE state = 'held'"
    /// A returned parcel's row is final: its updated_at is when it was returned.
    static let countReturned = """
        SELECT count(*) FROM parcels WHERE state = 'returned' AND updated_at >= ?1 AND updated_at < ?2
        """
    static let oldestWaiting = """
        SELECT stage, min(updated_at) FROM parcels WHERE state IN ('queued', 'retrying') GROUP BY stage
        """
    static let attention = """
        SELECT parcel_id, state, stage, last_error, updated_at FROM parcels WHERE state IN ('held', 'dead_lettered')
        ORDER BY updated_at DESC, parcel_id DESC LIMIT ?1
        """
}

/// A parcel's progress as its row holds it (columns 0–5 of ``SQL/selectProgress`` and ``SQL/selectRecord``).
struct StoredProgress: ProgressRow {
    var progress: ParcelProgress
    var lastError: String?
    var parcelJSON: String

    init(_ row: SQLRow, parcelID: String, operation: String) throws(StatusStoreError) {
        lastError = row.text(4)
        progress = try ParcelProgress(state: row.text(0) ?? "", stage: row.text(1), stagesDone: Int(row.integer(2)),
                                      attempts: Int(row.integer(3)), lastError: lastError, parcelID: parcelID,
                                      operation: operation)
        parcelJSON = row.text(5) ?? ""
    }

    /// The values of ``SQL/updateProgress``.
    static func columns(_ progress: ParcelProgress, lastError: String?, at time: Int64, parcelID: String) -> [SQLArgument] {
        [.text(progress.status.state.rawValue), .text(progress.status.stage?.rawValue), .integer(progress.stagesDone),
         .integer(progress.attempts), .text(lastError), .integer(time), .text(parcelID)]
    }
}

extension ParcelEvent {
    /// The values of ``SQL/insertEvent``.
    var columns: [SQLArgument] {
        [.text(parcelID), .text(kind.rawValue), .text(stage?.rawValue), .integer(attempt), .text(detail), .text(worker),
         .integer(at.unixMilliseconds)]
    }

    /// An event from a row of ``SQL/selectHistory``.
    init(_ row: SQLRow, parcelID: String, operation: String) throws(StatusStoreError) {
        let kind = try Kind(stored: row.text(0) ?? "", parcelID: parcelID, operation: operation)
        let stageText = row.text(1)
        let stage = stageText.flatMap(Stage.init(rawValue:))
        guard stageText == nil || stage != nil else {
            throw StatusStoreError(operation, "an event of parcel \(parcelID) has an unknown stage '\(stageText ?? "")'")
        }
        self.init(parcelID: parcelID, kind: kind, stage: stage, attempt: row.isNull(2) ? nil : Int(row.integer(2)),
                  detail: row.text(3), worker: row.text(4), at: Date(milliseconds: row.integer(5)))
    }
}
