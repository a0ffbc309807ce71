import Foundation
import ParcelCore
import ParcelTestSupport
@testable import ParcelLoadTest
import Testing

/// Chaos that happens (issue 17, point 6): kills land under load, are counted mid-batch, and chaos
/// asked for and not made fails the verdict.
@Suite("Load test chaos that happens", .serialized)
struct ChaosLoadTestTests {
    @Test("--kills alone: kill n is due once n/(N+1) of the parcels are final, and only while parcels are moving")
    func killsFollowProgress() throws {
        let plan = try #require(KillPlan(every: nil, count: 2))
        #expect(KillPlan.progressThreshold(kill: 1, of: 2, parcels: 2000) == 666)
        #expect(KillPlan.progressThreshold(kill: 2, of: 2, parcels: 2000) == 1333)
        #expect(KillPlan.progressThreshold(kill: 1, of: 3, parcels: 2) == 1, "at least one parcel final")
        #expect(!plan.isDue(done: 0, elapsed: .seconds(100), final: 665, parcels: 2000), "the clock does not matter")
        #expect(plan.isDue(done: 0, elapsed: .zero, final: 666, parcels: 2000))
        #expect(!plan.isDue(done: 1, elapsed: .zero, final: 1000, parcels: 2000))
        #expect(plan.isDue(done: 1, elapsed: .zero, final: 1400, parcels: 2000))
        #expect(!plan.isDue(done: 1, elapsed: .zero, final: 2000, parcels: 2000), "every parcel final: no load left to kill under")
        #expect(!plan.isDue(done: 2, elapsed: .zero, final: 1999, parcels: 2000), "all asked for made")
        #expect(plan.asked == 2 && !plan.holdsRunOpen)
    }

    @Test("--kill-worker-every: one kill per interval from the start, then from the last kill; with --kills, N in all and the run held open")
    func killsByTheClock() throws {
        let every = try #require(KillPlan(every: .milliseconds(500), count: nil))
        #expect(!every.isDue(done: 0, elapsed: .milliseconds(499), final: 0, parcels: 10))
        #expect(every.isDue(done: 0, elapsed: .milliseconds(500), final: 10, parcels: 10))
        // `elapsed` since the last kill: a kill that waited for a replacement does not make the next one overdue.
        #expect(!every.isDue(done: 1, elapsed: .milliseconds(400), final: 0, parcels: 10))
        #expect(every.isDue(done: 1, elapsed: .milliseconds(500), final: 0, parcels: 10))
        #expect(every.asked == 1 && !every.holdsRunOpen, "alone: at least one kill, the run not held open")
        let both = try #require(KillPlan(every: .seconds(1), count: 3))
        #expect(both.holdsRunOpen && both.asked == 3)
        #expect(both.isDue(done: 2, elapsed: .seconds(1), final: 10, parcels: 10), "held open: kills go on after the last parcel")
        #expect(!both.isDue(done: 3, elapsed: .seconds(60), final: 10, parcels: 10))
        #expect(KillPlan(every: nil, count: nil) == nil)
    }

    @Test("kills asked for and not made, or a broker restart the run ended before, fail the verdict; made, they do not")
    func chaosNotMadeFailsTheVerdict() throws {
        let every = try #require(KillPlan(every: .seconds(3), count: nil))
        let missed = every.failures(made: 0, runSeconds: 2.4, parcels: 2000)
        #expect(missed.count == 1 && missed[0].contains("a worker kill every 3 s was asked for and none happened"), "\(missed)")
        #expect(every.failures(made: 1, runSeconds: 4, parcels: 2000).isEmpty)
        let spread = try #require(KillPlan(every: nil, count: 3))
        let short = spread.failures(made: 2, runSeconds: 1, parcels: 100)
        #expect(short.count == 1 && short[0].contains("2 of 3 worker kills happened") && short[0].contains("due at 75 of 100"),
                "\(short)")
        #expect(spread.failures(made: 3, runSeconds: 1, parcels: 100).isEmpty)

        func report(kills: [WorkerKill], failures: [String]) -> LoadTestReport {
            LoadTestReport(
                parcels: 10, counts: [.delivered: 10], audit: StoreAudit(), snapshot: StoreSnapshot(),
                queues: .init(readable: true, leftInWorkQueues: [:], deadLetters: 0), seconds: 1, workers: 2,
                kills: kills.count, workerKills: kills, brokerRestarts: 0,
                cpu: .init(workers: 0, broker: 0, parcelctl: 0, storeWriting: 0, wall: 1), workerPeakResidentBytes: 0,
                workerExits: [0, 0], chaosFailures: failures)
        }
        let failed = report(kills: [], failures: missed)
        #expect(!failed.passed && failed.violations == missed)
        guard case .object(let json) = failed.json else { Issue.record("not an object"); return }
        #expect(json["ok"] == .bool(false) && json["kills_mid_batch"] == .integer(0))

        // Mid-batch: tasks in flight in a report at most half a second old; none, unknown, or stale: not.
        let kills = [WorkerKill(at: 0.4, inFlight: 8, reportAge: 0.05, finalAtKill: 3),
                     WorkerKill(at: 0.9, inFlight: 0, reportAge: 0.05, finalAtKill: 6),
                     WorkerKill(at: 1.2, inFlight: 8, reportAge: 2, finalAtKill: 8),
                     WorkerKill(at: 1.5, inFlight: nil, reportAge: 0.05, finalAtKill: 9)]
        let passed = report(kills: kills, failures: [])
        #expect(passed.passed && passed.killsMidBatch == 1)
        guard case .object(let object) = passed.json, case .array(let listed)? = object["worker_kills"] else {
            Issue.record("no worker_kills"); return
        }
        #expect(object["kills_mid_batch"] == .integer(1) && listed.count == 4)
        #expect(passed.lines.contains { $0.contains("4 killed and replaced (1 mid-batch") }, "\(passed.lines)")
    }

    @Test("the demo's old chaos (a kill every 3 s in a run of about 2.5 s) is warned of; --kills and a reachable interval are not")
    func warnings() {
        let demo = KillPlan.warnings(parcels: 2000, plan: KillPlan(every: .seconds(3), count: nil), faults: [])
        #expect(demo.count == 1 && demo[0].contains("--kill-worker-every 3 s") && demo[0].contains("may never come"), "\(demo)")
        #expect(KillPlan.warnings(parcels: 2000, plan: KillPlan(every: nil, count: 3), faults: []).isEmpty)
        #expect(KillPlan.warnings(parcels: 2000, plan: KillPlan(every: .seconds(1), count: nil), faults: []).isEmpty)
        #expect(KillPlan.warnings(parcels: 2000, plan: KillPlan(every: .seconds(1), count: 5), faults: []).count == 1,
                "5 kills a second apart hold a 2.5 s run open")
        let restart = KillPlan.warnings(parcels: 200, plan: nil, faults: [("--restart-broker-at", .seconds(5))])
        #expect(restart.count == 1 && restart[0].hasPrefix("--restart-broker-at 5 s"), "\(restart)")
    }

    @Test("--kills 2 in a 300-parcel run: both kills land while parcels move, with tasks in flight that come again, and every parcel is final",
          .timeLimit(.minutes(2)))
    func killsLandMidBatch() async throws {
        let (status, report) = try await loadtest([
            "--parcels", "300", "--workers", "2", "--concurrency", "8", "--stage-time", "2ms-6ms", "--kills", "2",
        ])
        #expect(status == 0, "violations: \(report["violations"] ?? "")")
        #expect(report["workers_killed"] as? Int == 2, "\(report)")
        let kills = try #require(report["worker_kills"] as? [[String: Any]])
        #expect(kills.count == 2)
        for kill in kills {
            let final = kill["final_at_kill"] as? Int ?? -1
            #expect(final > 0 && final < 300, "the kill came under load: \(kill)")
        }
        #expect((report["kills_mid_batch"] as? Int ?? 0) >= 1, "\(kills)")
        // What a killed worker held came again, to the other: counted, and harmless.
        #expect((report["redelivered"] as? Int ?? 0) >= 1, "\(report["redelivered"] ?? "none")")
        #expect(report["lost"] as? Int == 0 && report["duplicated"] as? Int == 0)
    }

    @Test("--kill-worker-every with --kills: the run is held open after its last parcel until every kill asked for happened",
          .timeLimit(.minutes(2)))
    func runHeldOpenForKills() async throws {
        let (status, report) = try await loadtest([
            "--parcels", "60", "--workers", "2", "--concurrency", "8", "--kill-worker-every", "0.4", "--kills", "3",
        ])
        #expect(status == 0, "violations: \(report["violations"] ?? "")")
        #expect(report["workers_killed"] as? Int == 3, "\(report)")
        let times = (report["worker_kills"] as? [[String: Any]] ?? []).compactMap { $0["at_s"] as? Double }
        #expect(times.count == 3 && times.allSatisfy { $0 >= 0.4 } && (times.last ?? 0) >= 1.2, "one per interval: \(times)")
        #expect(report["lost"] as? Int == 0 && report["duplicated"] as? Int == 0)
    }

    @Test("bad --kills: a clear error, and nothing run")
    func badKills() async throws {
        let cli = Parcelctl(environment: ["PARCELFLOW_AMQP_URL": Broker.url])
        for (arguments, error) in [(["--kills", "0"], "--kills must be from 1 to 1,000"),
                                   (["--kills", "5", "--parcels", "5"], "give fewer kills than --parcels (5)"),
                                   (["--kills", "1", "--workers", "0"], "--kills needs workers the test starts")] {
            let result = try await cli.run(["loadtest"] + arguments)
            #expect(result.status == 64 && result.stderr.contains(error), "\(arguments): \(result.status) \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }

    @Test("a kill interval and a broker restart later than the run: both warned of at the start, and the verdict fails",
          .timeLimit(.minutes(2)))
    func chaosThatNeverCameFails() async throws {
        // --timeout 60 ends the run well before the restart's time: the script is never called.
        let script = repositoryRoot.appendingPathComponent("deploy/local/broker.sh").path
        let result = try await Parcelctl(environment: ["PARCELFLOW_AMQP_URL": Broker.url]).run([
            "loadtest", "--json", "--parcels", "50", "--workers", "1", "--concurrency", "8", "--kill-worker-every", "120",
            "--restart-broker-at", "120", "--broker-script", script, "--timeout", "60",
        ])
        #expect(result.status == 1)
        // A failed verdict keeps the workers' logs (for this run's failure, expected): removed here.
        if let range = result.stderr.range(of: "logs are kept in ") {
            let logs = URL(fileURLWithPath: String(result.stderr[range.upperBound...].prefix { $0 != "\n" }))
            try? FileManager.default.removeItem(at: logs.deletingLastPathComponent())
        }
        #expect(result.stderr.contains("warning: --kill-worker-every 120 s"), "\(result.stderr)")
        #expect(result.stderr.contains("warning: --restart-broker-at 120 s"), "\(result.stderr)")
        let report = try #require(try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["ok"] as? Bool == false && report["workers_killed"] as? Int == 0 && report["broker_restarts"] as? Int == 0)
        let violations = report["violations"] as? [String] ?? []
        #expect(violations.count == 2, "\(violations)")
        #expect(violations.contains { $0.contains("a worker kill every 120 s was asked for and none happened") }, "\(violations)")
        #expect(violations.contains { $0.contains("before --restart-broker-at 120 s: the broker was not restarted") },
                "\(violations)")
        #expect(report["lost"] as? Int == 0, "the parcels themselves are fine")
    }
}
