import Foundation
import Histogram
import ParcelCore

/// What a load test found: the verdict (every invariant, checked against the store and the broker),
/// throughput, latency percentiles (HdrHistogram), retries, and where the time went.
public struct LoadTestReport: Sendable {
    public struct Queues: Sendable {
        /// False when the broker could not be asked after the run.
        public var readable: Bool
        /// Stage and retry queues still holding messages (must be none).
        public var leftInWorkQueues: [String: Int]
        /// Messages in the dead-letter queue (at least one per dead-lettered parcel).
        public var deadLetters: Int
    }

    public struct CPU: Sendable {
        /// CPU seconds used by the workers, the broker (beam.smp) and parcelctl itself (submit and
        /// polling), during the run; and the run's wall-clock seconds.
        public var workers: Double
        public var broker: Double
        public var parcelctl: Double
        /// Seconds the workers spent in store transactions (wall time, from workers that stopped cleanly).
        public var storeWriting: Double
        /// The workers' store transactions (group commits of their settled batches), likewise.
        public var storeTransactions = 0
        public var wall: Double
    }

    /// p50/p90/p99/max of a set of durations, in milliseconds, through an HdrHistogram (µs, 3 digits).
    public struct Latency: Sendable {
        public var count: Int
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double

        init(milliseconds values: [Double]) {
            var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
            histogram.autoResize = true
            for value in values { _ = histogram.record(UInt64(Swift.max(0, value * 1000))) }
            count = values.count
            func ms(_ micros: UInt64) -> Double { values.isEmpty ? 0 : Double(micros) / 1000 }
            p50 = ms(histogram.valueAtPercentile(50))
            p90 = ms(histogram.valueAtPercentile(90))
            p99 = ms(histogram.valueAtPercentile(99))
            p999 = ms(histogram.valueAtPercentile(99.9))
            max = ms(histogram.max)
        }
    }

    public let parcels: Int
    public let delivered: Int
    public let held: Int
    public let deadLettered: Int
    /// Returned to their senders (a person's decision: none, unless someone reviewed holds mid-run).
    public let returned: Int
    /// Parcels that did not reach a final state (or are missing from the store).
    public let lost: Int
    /// Parcels with a stage applied more than once.
    public let duplicated: Int
    public let seconds: Double
    public let tasks: Int
    public let retries: Int
    public let stageLatency: [Stage: Latency]
    public let endToEnd: Latency
    public let queues: Queues
    public let workers: Int
    /// Tasks in flight per worker.
    public let concurrency: Int
    public let kills: Int
    /// Each worker kill, with whether the worker had tasks in flight (``killsMidBatch``).
    public let workerKills: [WorkerKill]
    public let brokerRestarts: Int
    public let cpu: CPU
    public let workerPeakResidentBytes: Int
    public let workerExits: [Int32]
    /// Workers that ended on their own (replaced; each one is a violation).
    public let workerCrashes: [String]
    /// Cluster nodes stopped and started again, with the recovery probe's figures.
    public let nodeRestarts: [NodeRestart]
    /// The probe's median time between confirms, for reading its pauses against.
    public let probeUsualGapSeconds: Double?
    /// Chaos asked for that could not be injected, or not measured (each one is a violation too).
    public let chaosFailures: [String]
    /// Stages done by the HTTP handler against the run's own service, and whether it agrees with the store.
    public let handover: Handover?
    /// Each broken invariant, in words; empty when the run holds.
    public let violations: [String]
    /// An open-loop run's figures, measured from each parcel's intended send time (``OpenLoopReport``).
    public internal(set) var openLoop: OpenLoopReport?
    /// The run interval by interval, and its goals (``SoakReport``).
    public internal(set) var soak: SoakReport?
    /// Deliveries that came twice: the broker gave a task out again after a connection was lost with
    /// it unacknowledged (a kill, a partition) or it was handed back. Harmless — the store applies a
    /// stage once — but counted (the workers' status files).
    public internal(set) var redelivered = 0

    /// The longest any parcel took, in seconds: from its due time in an open loop, else from its
    /// submit. Under a fault, how long the fault held a parcel up.
    public var longestWaitSeconds: Double { (openLoop?.endToEnd.max ?? endToEnd.max) / 1000 }

    public var passed: Bool { violations.isEmpty }
    public var parcelsPerSecond: Double { Double(delivered + held + deadLettered + returned) / seconds }
    public var tasksPerSecond: Double { Double(tasks) / seconds }

    init(parcels: Int, counts: [ParcelStatus.State: Int], audit: StoreAudit, snapshot: StoreSnapshot, queues: Queues,
         seconds: Double, workers: Int, concurrency: Int = 0, kills: Int, workerKills: [WorkerKill] = [], brokerRestarts: Int, cpu: CPU, workerPeakResidentBytes: Int,
         workerExits: [Int32], workerCrashes: [String] = [], chaosFailures: [String] = [],
         nodeRestarts: [NodeRestart] = [], probeUsualGapSeconds: Double? = nil, handover: Handover? = nil) {
        self.parcels = parcels
        delivered = counts[.delivered] ?? 0
        held = counts[.held] ?? 0
        deadLettered = counts[.deadLettered] ?? 0
        returned = counts[.returned] ?? 0
        let finals = delivered + held + deadLettered + returned
        let inStore = counts.values.reduce(0, +)
        lost = max(0, parcels - finals)
        duplicated = audit.appliedTwice.count
        self.seconds = seconds
        tasks = audit.tasksStarted
        retries = audit.retries
        stageLatency = Dictionary(uniqueKeysWithValues: Stage.allCases.map { ($0, Latency(milliseconds: snapshot.stageLatencies[$0] ?? [])) })
        endToEnd = Latency(milliseconds: snapshot.endToEnd)
        self.queues = queues
        self.workers = workers
        self.concurrency = concurrency
        self.kills = kills
        self.workerKills = workerKills
        self.brokerRestarts = brokerRestarts
        self.cpu = cpu
        self.workerPeakResidentBytes = workerPeakResidentBytes
        self.workerExits = workerExits
        self.workerCrashes = workerCrashes
        self.nodeRestarts = nodeRestarts
        self.probeUsualGapSeconds = probeUsualGapSeconds
        self.chaosFailures = chaosFailures
        self.handover = handover

        var violations: [String] = []
        if inStore != parcels { violations.append("the store holds \(inStore) parcels, \(parcels) were submitted") }
        if lost > 0 { violations.append("\(lost) parcel(s) never reached a final state") }
        if duplicated > 0 {
            violations.append("\(duplicated) parcel(s) had a stage applied twice: " + audit.appliedTwice.prefix(5).joined(separator: ", "))
        }
        if finals != parcels { violations.append("delivered + held + dead-lettered + returned = \(finals), not \(parcels)") }
        if !queues.readable {
            violations.append("the broker's queues could not be read after the run")
        } else if !queues.leftInWorkQueues.isEmpty {
            violations.append("queues not empty: " + queues.leftInWorkQueues.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", "))
        }
        if queues.readable, queues.deadLetters < deadLettered {
            violations.append("\(deadLettered) parcels dead-lettered but only \(queues.deadLetters) dead letters")
        }
        if !workerCrashes.isEmpty {
            violations.append("\(workerCrashes.count) worker(s) ended on their own: " + workerCrashes.prefix(3).joined(separator: ", "))
        }
        violations += Self.unmeasured(stageLatency, passed: audit.passed)
        violations += chaosFailures
        violations += handover?.mismatches ?? []
        let unclean = workerExits.filter { $0 != 0 }
        if !unclean.isEmpty {
            violations.append("\(unclean.count) worker(s) did not stop cleanly on SIGTERM (exit status "
                + unclean.map(String.init).joined(separator: ", ") + "; 9: still running after the stop timeout)")
        }
        self.violations = violations
    }
}

extension LoadTestReport {
    /// The whole report as one JSON object (`parcelctl loadtest --json`).
    public var json: JSONValue {
        func number(_ value: Double, places: Double = 1000) -> JSONValue { .number((value * places).rounded() / places) }
        func latency(_ l: Latency) -> JSONValue {
            .object(["count": .int(l.count), "p50": number(l.p50), "p90": number(l.p90), "p99": number(l.p99), "max": number(l.max)])
        }
        return .object(clusterJSON.merging(killJSON) { $1 }.merging(openLoopJSON) { $1 }.merging(soakJSON) { $1 }.merging(cpuJSON) { $1 }.merging([
            "ok": .bool(passed),
            "violations": .array(violations.map { .string($0) }),
            "parcels": .int(parcels), "delivered": .int(delivered), "held": .int(held), "dead_lettered": .int(deadLettered),
            "returned": .int(returned), "lost": .int(lost), "duplicated": .int(duplicated), "redelivered": .int(redelivered),
            "longest_wait_s": number(longestWaitSeconds),
            "seconds": number(seconds), "parcels_per_s": number(parcelsPerSecond, places: 10),
            "tasks": .int(tasks), "tasks_per_s": number(tasksPerSecond, places: 10), "retries": .int(retries),
            "latency_ms": .object(Dictionary(uniqueKeysWithValues: Stage.allCases.map { ($0.rawValue, latency(stageLatency[$0]!)) })),
            "end_to_end_ms": latency(endToEnd),
            "queues": .object(["empty": .bool(queues.readable && queues.leftInWorkQueues.isEmpty),
                               "dead_letters": .int(queues.deadLetters)]),
            "workers": .int(workers), "concurrency": .int(concurrency), "workers_killed": .int(kills), "broker_restarts": .int(brokerRestarts),
            "worker_peak_rss_mb": number(Double(workerPeakResidentBytes) / 1_048_576, places: 10),
            "worker_exit_statuses": .array(workerExits.map { .integer(Int64($0)) }),
            "worker_crashes": .array(workerCrashes.map { .string($0) }),
            "http_handler": handover?.json ?? .null,
        ]) { $1 })
    }

    /// Where the time went: `cpu_seconds`, `store_write_seconds`, `store_transactions` (a ramp gives
    /// them for each of its steps too).
    var cpuJSON: [String: JSONValue] {
        func number(_ value: Double) -> JSONValue { .number((value * 1000).rounded() / 1000) }
        return ["cpu_seconds": .object(["workers": number(cpu.workers), "broker": number(cpu.broker),
                                        "parcelctl": number(cpu.parcelctl), "wall": number(cpu.wall)]),
                "store_write_seconds": number(cpu.storeWriting),
                "store_transactions": .int(cpu.storeTransactions)]
    }

    /// The report for a person.
    public var lines: [String] {
        func ms(_ value: Double) -> String { value < 1000 ? "\(NumberText.decimal(value)) ms" : "\(NumberText.decimal(value / 1000)) s" }
        func row(_ name: String, _ l: Latency) -> String {
            "  \(name.padding(toLength: 12, withPad: " ", startingAt: 0)) p50 \(ms(l.p50))  p90 \(ms(l.p90))  p99 \(ms(l.p99))  max \(ms(l.max))"
        }
        var out: [String] = []
        out.append(passed ? "PASSED: every parcel final, none lost, none applied twice, the queues empty."
                          : "FAILED: " + violations.joined(separator: "; "))
        out.append("  \(NumberText.integer(parcels)) parcels: \(NumberText.integer(delivered)) delivered, "
            + "\(NumberText.integer(held)) held, \(NumberText.integer(deadLettered)) dead-lettered"
            + (returned > 0 ? ", \(NumberText.integer(returned)) returned" : "") + "; lost \(lost), "
            + "applied twice \(duplicated)" + (redelivered > 0 ? "; deliveries that came twice \(redelivered)" : ""))
        out.append("  \(NumberText.decimal(seconds)) s from the first publish to the last parcel final: "
            + "\(NumberText.decimal(parcelsPerSecond)) parcels/s, \(NumberText.decimal(tasksPerSecond)) tasks/s "
            + "(\(NumberText.integer(tasks)) tasks, \(NumberText.integer(retries)) retries)")
        out.append("  \(workers) worker(s); \(killWords); broker restarted \(brokerRestarts) time(s)")
        out += clusterLines
        out += handover?.lines ?? []
        out.append("Latency (HdrHistogram): queued → done per stage (collection from the submit); submitted → delivered end to end:")
        for stage in Stage.allCases { out.append(row(stage.rawValue, stageLatency[stage]!)) }
        out.append(row("end to end", endToEnd))
        out += openLoop?.lines ?? []
        out.append("Where the time went (CPU seconds during \(NumberText.decimal(cpu.wall)) s on "
            + "\(ProcessInfo.processInfo.activeProcessorCount) cores):")
        out.append("  workers \(NumberText.decimal(cpu.workers)) s, broker (beam.smp) \(NumberText.decimal(cpu.broker)) s, "
            + "parcelctl \(NumberText.decimal(cpu.parcelctl)) s")
        out.append("  the workers' \(NumberText.integer(cpu.storeTransactions)) store transactions took \(String(format: "%.2f", cpu.storeWriting)) s of wall time "
            + "(summed over workers and their group commits); worker peak RSS "
            + "\(NumberText.decimal(Double(workerPeakResidentBytes) / 1_048_576)) MB")
        out.append("  dead-letter queue: \(queues.deadLetters) message(s)")
        out += soak?.lines ?? []
        return out
    }
}
