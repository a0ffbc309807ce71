import Foundation

/// What the status store knows about a period, read in one go for `parcelctl report` and the
/// dashboard (``StatusStore/snapshot(period:recentSince:)``). Raw readings only; ``DeliveryReport``
/// turns them into figures.
public struct StoreSnapshot: Sendable, Hashable {
    /// Parcels grouped by where they are.
    public struct Group: Sendable, Hashable {
        /// The current stage; nil while only submitted.
        public var stage: Stage?
        public var state: ParcelStatus.State
        public var stagesDone: Int
        public var count: Int

        public init(stage: Stage?, state: ParcelStatus.State, stagesDone: Int, count: Int) {
            self.stage = stage
            self.state = state
            self.stagesDone = stagesDone
            self.count = count
        }
    }

    /// A held or dead-lettered parcel, for the "needs attention" list.
    public struct Attention: Sendable, Hashable {
        public var parcelID: String
        public var state: ParcelStatus.State
        public var stage: Stage?
        public var reason: String?
        public var at: Date

        public init(parcelID: String, state: ParcelStatus.State, stage: Stage?, reason: String?, at: Date) {
            self.parcelID = parcelID
            self.state = state
            self.stage = stage
            self.reason = reason
            self.at = at
        }
    }

    public var groups: [Group] = []
    /// Delivery times in the period (one per delivered parcel).
    public var deliveries: [Date] = []
    /// Delivery times since the `recentSince` asked for, in the period or not.
    public var recentDeliveries: [Date] = []
    /// Queued → done at each stage, for stages completed in the period, in milliseconds: one value per
    /// completion. Collection counts from the parcel's submit, recorded before its task is published:
    /// a worker may finish collection before the submitter records the broker's confirm, and that late
    /// "queued" changes nothing (nor is written), so only the submit is there for every parcel. A
    /// later stage counts from its first "queued" line (a replay), or else the previous completion.
    public var stageLatencies: [Stage: [Double]] = [:]
    /// Submitted → delivered for parcels delivered in the period, in milliseconds.
    public var endToEnd: [Double] = []
    /// When the longest-waiting parcel at each stage (queued or retrying) began to wait.
    public var oldestWaiting: [Stage: Date] = [:]
    /// The latest held and dead-lettered parcels, newest first (at most ``attentionLimit``).
    public var attention: [Attention] = []

    public static let attentionLimit = 20

    /// How many of each stage's latest completions in the period the report's latency percentiles
    /// read. Enough for a p99 to rest on a hundred values; bounded, so that the report and the
    /// dashboard (refreshing every 5 s) cost the same on a store of a month's parcels as on a day's
    /// (every completion of 200,000 parcels took 2.1 s on SQLite, most of it finding each one's start).
    public static let latencySample = 10_000

    public init() {}
}
