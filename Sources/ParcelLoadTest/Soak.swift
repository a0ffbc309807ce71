import Foundation
import ParcelCore

/// A run watched interval by interval (issue 17, the soak): the parcels that became final in each,
/// the memory of every worker and of parcelctl, parcelctl's CPU and the store's size at each interval's
/// end, so that drift shows: a throughput that sags as the store grows, a worker that leaks, a poller
/// whose cost grows with the run.
public struct SoakReport: Sendable, Hashable {
    public struct Interval: Sendable, Hashable {
        /// Seconds from the run's start (workers consuming, the first submit about to go) to its end.
        public var endSeconds: Double
        /// Its length: the interval asked for, but the last, which ends with the run.
        public var seconds: Double
        /// Parcels that became final in it.
        public var final: Int
        /// Each running worker's resident memory (VmRSS) at its end, in MB.
        public var workerResidentMB: [Double]
        public var parcelctlResidentMB: Double
        /// parcelctl's CPU seconds within the interval.
        public var parcelctlCPUSeconds: Double
        /// The store's bytes on disk at its end, in MB (SQLite: the file and its WAL; PostgreSQL: the
        /// parcels and events tables with their indexes and TOAST); nil when it could not be read.
        public var storeMB: Double?

        public var parcelsPerSecond: Double { seconds > 0 ? Double(final) / seconds : 0 }
    }

    /// The goals a soak is held to (issue 17); missing one is reported, it does not fail the verdict,
    /// which is about correctness (nothing lost, nothing applied twice).
    public struct Goals: Sendable, Hashable {
        /// The last interval compared keeps at least this share of the first one's throughput.
        public static let throughputHeld = 0.9
        /// Every worker's resident memory stays under this, in MB, and grows by at most ``rssGrowth``.
        public static let workerRSSLimitMB = 40.0
        /// Growth allowed from the first interval compared to the last: this share, or 2 MB, whichever is larger.
        public static let rssGrowth = 0.1
        /// parcelctl's CPU over the run, as a share of its wall time.
        public static let parcelctlCPUShare = 0.05

        public var throughputHeld: Bool
        public var workerRSSUnderLimit: Bool
        public var workerRSSFlat: Bool
        public var parcelctlCPUUnderShare: Bool

        public var allMet: Bool { throughputHeld && workerRSSUnderLimit && workerRSSFlat && parcelctlCPUUnderShare }
    }

    public var intervalSeconds: Double
    public var intervals: [Interval]

    public init(intervalSeconds: Double, intervals: [Interval]) {
        self.intervalSeconds = intervalSeconds
        self.intervals = intervals
    }

    /// The indexes of the intervals compared for drift. The last one, which ends with the run, is cut
    /// short and holds the drain: it is left out when a full one precedes it. The first full one holds
    /// the pipeline's fill (the first parcels have four stages to cross before any is final) and the
    /// workers' warm-up: with three full intervals or more, the second one is "first".
    public var compared: (first: Int, last: Int)? {
        guard !intervals.isEmpty else { return nil }
        let full = intervals.count - 1
        switch full {
        case 0: return (0, 0)
        case 1, 2: return (0, full - 1)
        default: return (1, full - 1)
        }
    }

    public var firstParcelsPerSecond: Double { compared.map { intervals[$0.first].parcelsPerSecond } ?? 0 }
    public var lastParcelsPerSecond: Double { compared.map { intervals[$0.last].parcelsPerSecond } ?? 0 }
    public var lastOverFirst: Double { firstParcelsPerSecond > 0 ? lastParcelsPerSecond / firstParcelsPerSecond : 0 }

    public var workerResidentMBMax: Double { intervals.flatMap(\.workerResidentMB).max() ?? 0 }
    public var runSeconds: Double { intervals.last?.endSeconds ?? 0 }
    public var parcelctlCPUSeconds: Double { intervals.reduce(0) { $0 + $1.parcelctlCPUSeconds } }
    /// parcelctl's CPU over the run, as a share of the run's wall time.
    public var parcelctlCPUShare: Double { runSeconds > 0 ? parcelctlCPUSeconds / runSeconds : 0 }
    public var storeMBEnd: Double? { intervals.last?.storeMB }
    public var parcels: Int { intervals.reduce(0) { $0 + $1.final } }

    public var goals: Goals {
        let rss = compared.map { (intervals[$0.first].workerResidentMB.max() ?? 0, intervals[$0.last].workerResidentMB.max() ?? 0) }
        let flat = rss.map { first, last in last - first <= max(2, first * Goals.rssGrowth) } ?? true
        return Goals(throughputHeld: lastOverFirst >= Goals.throughputHeld,
                     workerRSSUnderLimit: workerResidentMBMax < Goals.workerRSSLimitMB, workerRSSFlat: flat,
                     parcelctlCPUUnderShare: parcelctlCPUShare < Goals.parcelctlCPUShare)
    }

    /// The interval a run gets without --interval: about twenty per run, 1 s to 60 s, from the run's
    /// length as given (--duration) or as expected of `parcels` (``KillPlan/expectedSeconds(parcels:)``).
    public static func defaultInterval(parcels: Int, duration: Double?) -> Double {
        let expected = duration ?? KillPlan.expectedSeconds(parcels: parcels)
        return min(60, max(1, (expected / 20).rounded()))
    }

    /// The shortest interval: the run's poll (every 250 ms) closes them.
    public static let shortestInterval = 0.25
}

/// Closes the soak's intervals as the run's poll comes by: the arithmetic of ``SoakReport``, apart
/// from reading /proc and the store (the caller passes those readings in).
public struct SoakSampler: Sendable {
    public let intervalSeconds: Double
    public private(set) var intervals: [SoakReport.Interval] = []
    private var lastEnd = 0.0
    private var lastFinal = 0
    private var lastCPU: Double

    /// `cpuSeconds`: parcelctl's CPU when the run starts.
    public init(intervalSeconds: Double, cpuSeconds: Double) {
        self.intervalSeconds = intervalSeconds
        lastCPU = cpuSeconds
    }

    /// Whether the interval under way has ended by `elapsed` seconds into the run.
    public func due(at elapsed: Double) -> Bool { elapsed >= lastEnd + intervalSeconds }

    /// Ends the interval under way at `elapsed` with these readings: `final`, the run's parcels final
    /// so far; `cpuSeconds`, parcelctl's CPU so far; the rest in bytes.
    public mutating func close(at elapsed: Double, final: Int, workerResidentBytes: [Int], residentBytes: Int,
                               cpuSeconds: Double, storeBytes: Int?) {
        // The run's end, just after an interval closed: nothing left to close.
        guard elapsed > lastEnd || intervals.isEmpty else { return }
        func mb(_ bytes: Int) -> Double { Double(bytes) / 1_048_576 }
        intervals.append(.init(endSeconds: elapsed, seconds: elapsed - lastEnd, final: final - lastFinal,
                               workerResidentMB: workerResidentBytes.map(mb), parcelctlResidentMB: mb(residentBytes),
                               parcelctlCPUSeconds: max(0, cpuSeconds - lastCPU), storeMB: storeBytes.map(mb)))
        (lastEnd, lastFinal, lastCPU) = (elapsed, final, cpuSeconds)
    }

    public func report() -> SoakReport { SoakReport(intervalSeconds: intervalSeconds, intervals: intervals) }
}
