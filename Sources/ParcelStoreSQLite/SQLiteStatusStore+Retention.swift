import Foundation
import GRDB
import ParcelCore

/// Erasure and pruning: how the store gives up what it no longer needs (`parcelctl erase`, `prune`).
/// Migration 3 lets exactly these two changes past the history's append-only triggers.
extension SQLiteStatusStore {
    public func erase(_ parcelIDs: [String], at time: Date) async throws(StatusStoreError) -> [String: Erasure] {
        let operation = parcelIDs.count == 1 ? "erase parcel \(parcelIDs[0])" : "erase \(parcelIDs.count) parcels"
        return try await write(operation) { db in
            var outcomes: [String: Erasure] = [:]
            for id in parcelIDs where outcomes[id] == nil {
                var found: (progress: ParcelProgress, erasedAt: Int64?)?
                try db.run(RetentionSQL.selectForErasure, [.text(id)]) { row in
                    found = (try StoredProgress(row, parcelID: id, operation: operation).progress, row.isNull(6) ? nil : row.integer(6))
                }
                guard let found else {
                    outcomes[id] = .unknown
                    continue
                }
                if let erasedAt = found.erasedAt {
                    outcomes[id] = .alreadyErased(Date(milliseconds: erasedAt))
                    continue
                }
                guard found.progress.status.isFinal else {
                    outcomes[id] = .notFinal(found.progress.status)
                    continue
                }
                let anonymous = JSONValue.object(["id": .string(id)]).serialized()
                try db.run(RetentionSQL.eraseParcel, [.text(anonymous), .integer(time.unixMilliseconds), .text(id)])
                try db.run(RetentionSQL.eraseHistory, [.text(id)])
                outcomes[id] = .erased
            }
            return outcomes
        }
    }

    public func prune(finishedBefore date: Date, limit: Int) async throws(StatusStoreError) -> Int {
        let operation = "prune parcels finished before \(Timestamp.format(date))"
        return try await write(operation) { db in
            var ids: [String] = []
            try db.run(RetentionSQL.selectFinishedBefore, [.integer(date.unixMilliseconds), .integer(Int64(max(0, limit)))]) { row in
                ids.append(row.text(0) ?? "")
            }
            let deleteHistory = try db.cachedStatement(sql: RetentionSQL.deleteHistory)
            let deleteParcel = try db.cachedStatement(sql: RetentionSQL.deleteParcel)
            for id in ids {
                // The history first: its lines refer to the parcel's row.
                try deleteHistory.run([.text(id)])
                try deleteParcel.run([.text(id)])
            }
            return ids.count
        }
    }

    /// Whether the parcel's personal data was erased.
    static func isErased(_ db: Database, _ parcelID: String) throws -> Bool {
        try db.integer(RetentionSQL.isErased, [.text(parcelID)]) == 1
    }
}

enum RetentionSQL {
    /// Columns 0–5 as ``StoredProgress`` reads them, then erased_at.
    static let selectForErasure = """
        SELECT state, stage, stages_done, attempts, last_error, '', erased_at FROM parcels WHERE parcel_id = ?
        """
    static let eraseParcel = """
        UPDATE parcels SET parcel_json = ?1, erased_at = ?2,
            last_error = CASE WHEN last_error IS NULL THEN NULL ELSE '\(Erasure.erasedText)' END
        WHERE parcel_id = ?3
        """
    static let eraseHistory = """
        UPDATE events SET detail = '\(Erasure.erasedText)' WHERE parcel_id = ? AND detail IS NOT NULL
        """
    static let isErased = "SELECT count(*) FROM parcels WHERE parcel_id = ? AND erased_at IS NOT NULL"
    /// Final parcels last changed before ?1 (for a final parcel: when it became final).
    static let selectFinishedBefore = """
        SELECT parcel_id FROM parcels
        WHERE (state = 'held' OR state = 'delivered' OR state = 'dead_lettered' OR state = 'returned') AND updated_at < ?1
        LIMIT ?2
        """
    static let deleteHistory = "DELETE FROM events WHERE parcel_id = ?"
    static let deleteParcel = "DELETE FROM parcels WHERE parcel_id = ?"
}
