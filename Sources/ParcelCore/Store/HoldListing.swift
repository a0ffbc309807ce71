import Foundation

/// The parcels held for review (``StatusStore/holds(limit:)``): the longest held first, at most as
/// many as asked for, and how many there are in all.
public struct HoldListing: Sendable, Hashable {
    /// One held parcel: where it was held, why, and since when.
    public struct Hold: Sendable, Hashable {
        public var parcelID: String
        public var stage: Stage
        /// The handler's reason (from a rules file or a carrier's answer: text from outside).
        public var reason: String
        /// When it was held (a held parcel's row changes no more until a person decides).
        public var since: Date

        public init(parcelID: String, stage: Stage, reason: String, since: Date) {
            self.parcelID = parcelID
            self.stage = stage
            self.reason = reason
            self.since = since
        }
    }

    /// How many parcels are held, listed or not.
    public var total: Int
    public var holds: [Hold]

    public init(total: Int, holds: [Hold]) {
        self.total = total
        self.holds = holds
    }

    /// The most a listing may ask for: a page a person reads, not a dump of the table.
    public static let maxLimit = 10_000
}
