/// A parcel's progress as a store's row holds it: what a batch of changes is computed from.
package protocol ProgressRow {
    var progress: ParcelProgress { get set }
    var lastError: String? { get set }
}

/// A batch of changes computed from the rows it read, for the stores that write rows (SQLite,
/// PostgreSQL): one outcome per change by the same pure rules as every store
/// (``ParcelProgress/applying(_:)``); each changed parcel's row as it ends, written once however many
/// of its changes applied (a worker's batch holds two per task, "started" and the outcome, and a row
/// update is the dear part); and the history lines of the applied changes, in order. Later changes
/// to a parcel see the earlier ones; a parcel with no row is an unknown parcel.
package struct AppliedBatch<Row: ProgressRow> {
    package var outcomes: [TransitionOutcome] = []
    package var changed: [(parcelID: String, row: Row, at: Int64)] = []
    package var events: [ParcelEvent] = []

    package init(_ changes: [StatusChange], from read: [String: Row]) {
        var current = read
        var position: [String: Int] = [:]
        outcomes.reserveCapacity(changes.count)
        for change in changes {
            guard var stored = current[change.parcelID] else {
                outcomes.append(.unknownParcel)
                continue
            }
            // Only an applied transition writes anything.
            let (next, outcome) = stored.progress.applying(change.transition)
            outcomes.append(outcome)
            guard outcome == .applied else { continue }
            stored.lastError = change.transition.lastError(keeping: stored.lastError)
            stored.progress = next
            current[change.parcelID] = stored
            if let index = position[change.parcelID] {
                changed[index].row = stored
                changed[index].at = change.at.unixMilliseconds
            } else {
                position[change.parcelID] = changed.count
                changed.append((change.parcelID, stored, change.at.unixMilliseconds))
            }
            events.append(ParcelEvent(change.transition, parcelID: change.parcelID, worker: change.worker, at: change.at))
        }
    }
}
