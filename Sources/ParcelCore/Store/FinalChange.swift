import Foundation

/// How many parcels became final since a cursor (``StatusStore/finalChange(after:idPrefix:)``): what a
/// load test polls, reading only the history lines written since its last look rather than counting
/// every parcel of the run again (that cost grew with the run, and made a long run's poller its own
/// load).
public struct FinalChange: Sendable, Hashable {
    /// Where the next call starts: past every history line this one read. 0 before the first call.
    public var cursor: Int64
    /// Parcels that became final in the lines read, less those that left a final state (a held parcel
    /// released, a dead-lettered one replayed).
    public var change: Int

    public init(cursor: Int64, change: Int) {
        self.cursor = cursor
        self.change = change
    }
}

extension ParcelEvent {
    /// What this history line does to the count of final parcels: +1 for a line that makes its parcel
    /// final (delivered, held, dead-lettered), -1 for one that takes it out again (a release, a replay's
    /// "queued"), 0 otherwise. A return moves a held parcel from one final state to another. Only applied
    /// transitions are written, so the lines add up to the parcels in a final state. The stores' SQL
    /// counts the same kinds.
    public var finalChange: Int {
        switch kind {
        case .delivered, .held, .deadLettered: 1
        case .released: -1
        case .queued where detail == Self.replayedDetail: -1
        default: 0
        }
    }
}
