import Foundation
import ParcelCore
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// The SQLite migration of the review of held parcels: a file from before it keeps its held parcels
/// (held at inspection, the only stage that could hold then), which can then be reviewed; the new
/// checks take the new values and still refuse unknown ones.
@Suite("SQLite store: the migration for reviewing held parcels")
struct HoldReviewMigrationTests {
    @Test("a version 3 file's held parcel reads as held at inspection after the migration, and can be released or returned")
    func heldParcelsSurvive() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("status.db").path
            let old = try await SQLiteStatusStore.fileBeforeVersion4(path: path)
            _ = try await old.submit([parcel("H-1"), parcel("H-2"), parcel("W")], at: moment(0))
            #expect(try await old.apply(.queued(.collection), to: "W", at: moment(1)) == .applied)
            for id in ["H-1", "H-2"] {
                // As a worker of then wrote a hold: stage inspection.
                try await old.execute(script: """
                    UPDATE parcels SET state = 'held', stage = 'inspection', stages_done = 2, attempts = 1,
                        last_error = 'liquid inside', updated_at = \(moment(5).timeIntervalSince1970 * 1000) WHERE parcel_id = '\(id)';
                    INSERT INTO events (parcel_id, kind, stage, detail, worker, at)
                        VALUES ('\(id)', 'held', 'inspection', 'liquid inside', 'w/1', \(Int64(moment(5).timeIntervalSince1970 * 1000)));
                    """)
            }
            let rows = "SELECT parcel_id, parcel_json, stage, state, stages_done, attempts, last_error, submitted_at, updated_at, erased_at "
                + "FROM parcels ORDER BY parcel_id"
            let before = try await old.query(rows)
            let history = try await old.history("H-1")
            // The new state does not fit the old checks.
            await #expect(throws: StatusStoreError.self) {
                try await old.execute(script: "UPDATE parcels SET state = 'returned' WHERE parcel_id = 'H-2'")
            }
            await old.close()

            let store = try await SQLiteStatusStore.open(path: path)
            #expect(try await store.query(rows) == before, "every row kept as it was")
            #expect(try await store.history("H-1") == history)
            #expect(try await store.record("H-1")?.status == .held(.inspection, reason: "liquid inside"))
            #expect(try await store.holds(limit: 10).holds.map(\.parcelID) == ["H-1", "H-2"])
            #expect(try await store.apply(.released(.inspection, note: "ok"), to: "H-1", worker: "amina", at: moment(10)) == .applied)
            #expect(try await store.apply(.returned(.inspection, reason: "no"), to: "H-2", worker: "amina", at: moment(10)) == .applied)
            #expect(try await store.history("H-2").last?.kind == .returned)
            for statement in [
                "UPDATE parcels SET state = 'lost' WHERE parcel_id = 'W'",
                "INSERT INTO events (parcel_id, kind, at) VALUES ('W', 'teleported', 0)",
                "INSERT INTO events (parcel_id, kind, at) VALUES ('P-404', 'released', 0)",
                "UPDATE events SET detail = 'x' WHERE parcel_id = 'H-2'",
                "DELETE FROM events WHERE parcel_id = 'W'",
            ] {
                await #expect(throws: StatusStoreError.self, "\(statement)") { try await store.execute(script: statement) }
            }
            // A returned parcel is final: pruned with its history.
            #expect(try await store.prune(finishedBefore: moment(11), limit: 10) == 1)
            #expect(try await store.record("H-2") == nil)
            await store.close()
        }
    }
}

extension SQLiteStatusStore {
    /// A file migrated up to version 3, by today's migrator: the last version before the review of
    /// held parcels. (`migrate: false`, then each migration's SQL, as `SQLiteStatusStoreTests` does.)
    static func fileBeforeVersion4(path: String) async throws -> SQLiteStatusStore {
        try await SQLiteStatusStoreTests.fileBeforeGRDB(at: 3, path: path)
    }
}
