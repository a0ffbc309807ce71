import Foundation

/// What a `parcel-worker` started with `--status-file` keeps in that file: where it stands and what it
/// has done. Written whole (to a temporary file, then renamed) at every change of phase and every
/// ``refreshInterval`` besides, so a reader never sees half of one; the load test reads it instead of
/// the worker's log text (and, before it kills a worker, its tasks in flight).
public struct WorkerStatusReport: Codable, Sendable, Hashable {
    /// `starting`, `working` (connected, consuming), `reconnecting`, `stopping`, `stopped`.
    public var phase: String
    /// Whether it has been `working` at any time: connected and consuming, with signals handled.
    public var hasWorked: Bool
    public var pid: Int32
    /// Tasks settled, by outcome (`completed`, `delivered`, `retried`, …).
    public var outcomes: [String: Int]
    /// Deliveries handed back to their queue.
    public var requeued: Int
    /// Deliveries the broker marked as given out before (nil: a report without it).
    public var redelivered: Int?
    public var reconnects: Int
    /// Store operations that failed and were tried again.
    public var storeFailures: Int
    /// The worker's status-store transactions: how many, the changes in them, and their wall time.
    public var storeTransactions: Int
    public var storeChanges: Int
    public var storeSeconds: Double
    /// Deliveries taken and not yet acknowledged or handed back, when written (nil: a report without it).
    public var inFlight: Int?

    /// How often a working worker rewrites the file (besides each change of phase).
    public static let refreshInterval = Duration.milliseconds(100)

    public init(phase: String, hasWorked: Bool, pid: Int32, outcomes: [String: Int] = [:], requeued: Int = 0, redelivered: Int? = nil,
                reconnects: Int = 0, storeFailures: Int = 0, storeTransactions: Int = 0, storeChanges: Int = 0, storeSeconds: Double = 0,
                inFlight: Int? = nil) {
        self.phase = phase
        self.hasWorked = hasWorked
        self.pid = pid
        self.outcomes = outcomes
        self.requeued = requeued
        self.redelivered = redelivered
        self.reconnects = reconnects
        self.storeFailures = storeFailures
        self.storeTransactions = storeTransactions
        self.storeChanges = storeChanges
        self.storeSeconds = storeSeconds
        self.inFlight = inFlight
    }

    /// The largest status file read: a worker's is a few hundred bytes.
    public static let maxFileBytes = 64 << 10

    /// Writes `self` to `path` atomically (a temporary file beside it, then a rename).
    public func write(to path: String) throws {
        let temporary = path + ".tmp"
        try Data(json.utf8).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    /// One line of JSON, keys sorted, as `read(from:)` reads it. Written by hand: the worker writes it
    /// at every change, and JSONEncoder's code alone would add 1.5 MB to a worker's resident memory.
    /// (Every value is a number, a Boolean, or text from this process: a phase or an outcome name.)
    public var json: String {
        let outcomeMembers = outcomes.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
        let inFlightMember = inFlight.map { "\"in_flight\":\($0)," } ?? ""
        let redeliveredMember = redelivered.map { "\"redelivered\":\($0)," } ?? ""
        return "{\"has_worked\":\(hasWorked),\(inFlightMember)\"outcomes\":{\(outcomeMembers)},\"phase\":\"\(phase)\",\"pid\":\(pid),"
            + "\"reconnects\":\(reconnects),\(redeliveredMember)\"requeued\":\(requeued),\"store_changes\":\(storeChanges),"
            + "\"store_failures\":\(storeFailures),\"store_seconds\":\(storeSeconds),\"store_transactions\":\(storeTransactions)}\n"
    }

    /// The report at `path`, or nil when there is none yet, or it is not one (too large, not JSON).
    public static func read(from path: String) -> WorkerStatusReport? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: maxFileBytes + 1), data.count <= maxFileBytes else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(WorkerStatusReport.self, from: data)
    }
}
