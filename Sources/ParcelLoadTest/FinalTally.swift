import Foundation
import ParcelCore

/// The run's parcels in a final state, kept up to date by what changed (``StatusStore/finalChange(after:idPrefix:)``)
/// rather than by counting every parcel of the run at each poll, whose cost grew with the run.
///
/// PostgreSQL can miss a line that commits after one numbered higher (``StatusStore/finalChange(after:idPrefix:)``),
/// so the tally checks itself with a full count when it reaches the total it waits for, and when it
/// stopped moving for ``settle`` (a stalled run, or the last parcels missed): once per stall, not per poll.
struct FinalTally {
    let idPrefix: String
    private(set) var count = 0
    private var cursor: Int64 = 0
    private var lastMove = ContinuousClock.now
    private var checked = false
    let settle: Duration = .seconds(1)

    init(idPrefix: String) {
        self.idPrefix = idPrefix
    }

    /// Reads what changed since the last poll; `total`, the parcels the run waits for, when known.
    mutating func poll(_ store: any StatusStore, total: Int?) async throws -> Int {
        let change = try await store.finalChange(after: cursor, idPrefix: idPrefix)
        cursor = change.cursor
        if change.change != 0 {
            count += change.change
            lastMove = .now
            checked = false
        }
        let reached = total.map { count >= $0 } ?? false
        if !checked, reached || ContinuousClock.now - lastMove >= settle {
            count = ParcelStatus.State.finalCount(try await store.countsByState(idPrefix: idPrefix))
            checked = true
        }
        return count
    }
}
