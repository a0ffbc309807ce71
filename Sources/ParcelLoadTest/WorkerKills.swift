import Foundation
import ParcelCore
import Synchronization

// Chaos that happens (issue 17, point 6). A kill or restart asked for at a time the run never reaches
// proves nothing, so:
//
// - `--kills N` alone spreads N kills over the run by its progress, not by the clock: kill n is due
//   once n/(N+1) of the parcels are final (with N = 2: at a third and at two thirds), so every kill
//   lands while parcels are still moving, however fast or slow the machine is.
// - `--kill-worker-every S --kills N`: a kill every S seconds, N in all, and the run is held open
//   (after every parcel is final) until the N kills happened; kills after the last parcel land on
//   idle workers, and the report says so (none of them mid-batch).
// - `--kill-worker-every S` alone: a kill every S seconds until the run ends, at least one.
//
// Kills asked for and not made, and a `--restart-broker-at` the run ended before, are chaos failures:
// the verdict fails, as it does for cluster faults (``ClusterChaos``). At the start the command warns
// when a kill interval or a fault's time is past the run's expected length (``KillPlan/warnings``).
//
// Each kill records whether it came mid-batch: the victim's tasks in flight (deliveries taken and not
// yet acknowledged or requeued), from its status file (`parcel-worker --status-file`), which a working
// worker rewrites every 100 ms and the fleet reads just before SIGKILL. The victim is a working worker
// with tasks in flight when there is one (else any working worker). A kill waits while a replacement
// is still starting: killing each worker as soon as it works would leave the fleet doing nothing (a
// worker that takes longer to start than the interval, on a loaded machine, was never let work), so
// the interval runs from the last kill, and at least one worker of a fleet of two or more works.

/// How a run kills workers: `--kill-worker-every`, `--kills`, or both.
public struct KillPlan: Sendable, Hashable {
    /// A kill every this long, from the start of the run and then from the last kill (nil: kills
    /// follow the run's progress).
    public var every: Duration?
    /// Kills asked for in all (nil: every `every` until the run ends).
    public var count: Int?

    /// Nil when neither is given.
    public init?(every: Duration?, count: Int?) {
        guard every != nil || count != nil else { return nil }
        self.every = every
        self.count = count
    }

    /// The kills the run must make for its chaos to count as done.
    public var asked: Int { count ?? 1 }

    /// With both an interval and a count, the run stays open until the kills asked for happened.
    public var holdsRunOpen: Bool { every != nil && count != nil }

    /// By progress (`--kills` alone): kill `number` (from 1) is due once this many parcels are final.
    public static func progressThreshold(kill number: Int, of count: Int, parcels: Int) -> Int {
        max(1, number * parcels / (count + 1))
    }

    /// Whether the next kill is due, `done` having been made: `elapsed` since the last kill (or the
    /// start of the run), `final` of `parcels`.
    public func isDue(done: Int, elapsed: Duration, final: Int, parcels: Int) -> Bool {
        if let count, done >= count { return false }
        if let every { return elapsed >= every }
        // By progress: only while parcels are still moving.
        return final < parcels && final >= Self.progressThreshold(kill: done + 1, of: count ?? 1, parcels: parcels)
    }

    /// What `made` kills in a run of `runSeconds` fell short of (empty: the chaos asked for happened).
    public func failures(made: Int, runSeconds: Double, parcels: Int) -> [String] {
        guard made < asked else { return [] }
        let ran = "the run ended after \(KillPlan.seconds(runSeconds))"
        switch (every, count) {
        case (let every?, nil):
            return ["a worker kill every \(KillPlan.seconds(every)) was asked for and none happened: \(ran) "
                + "(--kills N spreads kills over the run)"]
        case (let every?, let count?):
            return ["--kills \(count) with --kill-worker-every \(KillPlan.seconds(every)): \(made) of \(count) worker kills "
                + "happened before the timeout (\(ran))"]
        case (nil, let count?):
            let next = Self.progressThreshold(kill: made + 1, of: count, parcels: parcels)
            return ["--kills \(count): \(made) of \(count) worker kills happened: \(ran) before kill \(made + 1) was made "
                + "(due at \(next) of \(parcels) parcels final, with a worker working)"]
        case (nil, nil):
            return []
        }
    }

    // MARK: - Warnings at the start

    /// A rough rate for the warnings only: the demo's 2,000 parcels (two workers, 0-2 ms stage time)
    /// take about 2.4 s on the 2-core machine of the README's figures.
    public static let roughParcelsPerSecond = 800.0

    /// How long a run of `parcels` is likely to last, roughly (``roughParcelsPerSecond``).
    public static func expectedSeconds(parcels: Int) -> Double { Double(parcels) / roughParcelsPerSecond }

    /// What to warn of before a run of `parcels`: a kill interval or a fault's time (`faults`: flag and
    /// time into the run) past the run's expected length.
    public static func warnings(parcels: Int, plan: KillPlan?, faults: [(flag: String, at: Duration)]) -> [String] {
        let expected = expectedSeconds(parcels: parcels)
        let run = "a run of \(parcels) parcels lasts about \(seconds(expected)) (at a rough "
            + "\(Int(roughParcelsPerSecond)) parcels/s)"
        var out: [String] = []
        if let plan, let every = plan.every {
            let interval = seconds(every)
            if let count = plan.count {
                if Self.value(every * count) > expected {
                    out.append("--kills \(count) with --kill-worker-every \(interval): \(run), and the run is held open "
                        + "until \(count) kills happened; kills after the last parcel land on idle workers (not mid-batch)")
                }
            } else if Self.value(every) > expected {
                out.append("--kill-worker-every \(interval): \(run), so the first kill may never come, and the verdict "
                    + "fails if none does; --kills N spreads kills over the run")
            }
        }
        for (flag, at) in faults where Self.value(at) > expected {
            out.append("\(flag) \(seconds(at)): \(run), so it may end first, and the verdict fails if it does")
        }
        return out
    }

    // MARK: - Text

    static func value(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func seconds(_ duration: Duration) -> String { seconds(value(duration)) }

    /// "3 s", "0.5 s", "2.4 s": whole seconds without a fraction.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e9 ? "\(Int(value)) s" : "\(NumberText.decimal(value)) s"
    }
}

/// One worker killed: when, and whether it had tasks in flight.
public struct WorkerKill: Sendable, Hashable {
    /// Seconds into the run.
    public var at: Double
    /// The victim's tasks in flight in its last status report, read just before SIGKILL (nil: no
    /// report, or one without the count).
    public var inFlight: Int?
    /// How old that report was (seconds since the worker wrote it).
    public var reportAge: Double?
    /// Parcels final when the kill came (the run's last reading).
    public var finalAtKill: Int

    /// A report older than this does not count: a working worker rewrites its own every 100 ms.
    public static let freshReport = 0.5

    public init(at: Double, inFlight: Int?, reportAge: Double?, finalAtKill: Int) {
        self.at = at
        self.inFlight = inFlight
        self.reportAge = reportAge
        self.finalAtKill = finalAtKill
    }

    /// The worker had tasks in flight: deliveries it had taken and not acknowledged, as its own report
    /// of at most ``freshReport`` seconds before the kill said.
    public var midBatch: Bool {
        guard let inFlight, let reportAge else { return false }
        return inFlight > 0 && reportAge <= Self.freshReport
    }
}

/// The kills a run made, as they happened.
final class WorkerKillLog: Sendable {
    private let kills = Mutex<[WorkerKill]>([])
    private let finals = Atomic<Int>(0)

    func noteFinal(_ count: Int) { finals.store(count, ordering: .relaxed) }
    var final: Int { finals.load(ordering: .relaxed) }

    func append(_ kill: WorkerKill) { kills.withLock { $0.append(kill) } }
    var all: [WorkerKill] { kills.withLock { $0 } }

    /// Kills `plan` asks for, from `started`, against `fleet`, until cancelled (the run ended) or
    /// every kill asked for was made. A kill waits while no worker is working.
    func run(_ plan: KillPlan, fleet: WorkerFleet, parcels: Int, from started: ContinuousClock.Instant) async {
        var last = started
        while !Task.isCancelled {
            let done = all.count
            if let count = plan.count, done >= count { return }
            let final = self.final
            if plan.isDue(done: done, elapsed: ContinuousClock.now - last, final: final, parcels: parcels),
               let killed = try? await fleet.killOneAndReplace() {
                last = ContinuousClock.now
                append(WorkerKill(at: KillPlan.value(last - started), inFlight: killed.inFlight,
                                  reportAge: killed.reportAge, finalAtKill: final))
                continue
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}

extension LoadTestReport {
    /// Kills that came while the victim had tasks in flight.
    public var killsMidBatch: Int { workerKills.filter(\.midBatch).count }

    var killJSON: [String: JSONValue] {
        func number(_ value: Double?) -> JSONValue { value.map { .number(($0 * 1000).rounded() / 1000) } ?? .null }
        return [
            "kills_mid_batch": .int(killsMidBatch),
            "worker_kills": .array(workerKills.map { kill in
                .object(["at_s": number(kill.at), "in_flight": .int(kill.inFlight),
                         "report_age_s": number(kill.reportAge), "final_at_kill": .int(kill.finalAtKill),
                         "mid_batch": .bool(kill.midBatch)])
            }),
        ]
    }

    /// "3 killed and replaced (2 mid-batch…)": the text report's words for the kills.
    var killWords: String {
        guard kills > 0 else { return "0 killed and replaced" }
        return "\(kills) killed and replaced (\(killsMidBatch) mid-batch: the killed worker had tasks in flight, "
            + "by its own status report just before the kill)"
    }
}
