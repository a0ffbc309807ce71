import Foundation
import Logging
import ParcelCore
import ParcelHTTPHandler
@testable import ParcelLoadTest
import ParcelWorkerRuntime
import ParcelTestSupport
import Testing

/// `parcelctl loadtest --json`, run as ops run it.
func loadtest(_ arguments: [String], url: String = Broker.url) async throws -> (status: Int32, report: [String: Any]) {
    let result = try await Parcelctl(environment: ["PARCELFLOW_AMQP_URL": url]).run(["loadtest", "--json"] + arguments)
    let report = try #require(try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                              "no JSON report: \(result.stdout.suffix(1500)) \(result.stderr.suffix(1500))")
    if result.status != 0, let range = result.stderr.range(of: "logs are kept in ") {
        // The verdict failed: show how each worker ended, from its own log.
        let folder = String(result.stderr[range.upperBound...].prefix { $0 != "\n" })
        let logs = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.sorted() ?? []
        let tails = logs.map { name -> String in
            let text = (try? String(contentsOfFile: folder + "/" + name, encoding: .utf8)) ?? ""
            let tail: String = text.split(separator: "\n").suffix(6).joined(separator: "\n")
            return "== \(name)\n\(tail)"
        }
        let statuses = "\(report["worker_exit_statuses"] ?? "?")"
        Issue.record("exit statuses \(statuses); the workers' logs:\n\(tails.joined(separator: "\n"))")
    }
    return (result.status, report)
}

/// Runs `parcelctl loadtest` with each set of arguments, against a broker nobody listens on: each must
/// be refused at once (usage, status 64) with its message, before anything starts.
func expectLoadtestRefuses(_ cases: [([String], String)], sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let url = "amqp://guest:guest@127.0.0.1:1/%2f"
    for (arguments, message) in cases {
        let result = try await Parcelctl(environment: ["PARCELFLOW_AMQP_URL": url]).run(["loadtest"] + arguments)
        #expect(result.status == 64, "\(arguments): \(result.status)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
    }
}

@Suite("Load test", .serialized)
struct LoadTestTests {
    @Test("200 parcels with transient faults while workers are killed: every parcel final, none lost, none applied twice",
          .timeLimit(.minutes(3)))
    func smallLoadTestWithAKill() async throws {
        let (status, report) = try await loadtest([
            "--parcels", "200", "--workers", "2", "--concurrency", "8", "--stage-time", "3ms-8ms",
            "--transient-rate", "0.1", "--kill-worker-every", "0.5",
        ])
        #expect(status == 0, "violations: \(report["violations"] ?? "")")
        #expect(report["ok"] as? Bool == true)
        #expect(report["parcels"] as? Int == 200)
        #expect(report["lost"] as? Int == 0)
        #expect(report["duplicated"] as? Int == 0)
        let finals = ["delivered", "held", "dead_lettered"].compactMap { report[$0] as? Int }.reduce(0, +)
        #expect(finals == 200)
        #expect((report["workers_killed"] as? Int ?? 0) >= 1, "no worker was killed: \(report)")
        #expect((report["retries"] as? Int ?? 0) > 0)
        #expect((report["seconds"] as? Double ?? 0) > 0 && (report["parcels_per_s"] as? Double ?? 0) > 0)
        #expect((report["queues"] as? [String: Any])?["empty"] as? Bool == true)
        let latency = try #require(report["latency_ms"] as? [String: Any])
        #expect(Set(latency.keys) == Set(Stage.allCases.map(\.rawValue)))
        #expect(((report["end_to_end_ms"] as? [String: Any])?["count"] as? Int) == report["delivered"] as? Int)
    }

    @Test("the same load test on PostgreSQL (--store postgres://…): every parcel final, none lost, none applied twice",
          .timeLimit(.minutes(3)), .enabled(if: LocalPostgres.url != nil, "PARCELFLOW_TEST_POSTGRES_URL is not set"))
    func loadTestOnPostgres() async throws {
        let database = try await TestDatabase.create()
        let (status, report) = try await loadtest([
            "--parcels", "200", "--workers", "2", "--concurrency", "8", "--stage-time", "3ms-8ms",
            "--transient-rate", "0.1", "--kill-worker-every", "0.5", "--store", database.url.string!,
        ])
        #expect(status == 0, "violations: \(report["violations"] ?? "")")
        #expect(report["ok"] as? Bool == true)
        #expect(report["lost"] as? Int == 0 && report["duplicated"] as? Int == 0)
        let finals = ["delivered", "held", "dead_lettered"].compactMap { report[$0] as? Int }.reduce(0, +)
        #expect(finals == 200)
        #expect((report["workers_killed"] as? Int ?? 0) >= 1, "no worker was killed: \(report)")
        // The verdict read the PostgreSQL database: the parcels are there, not in a file of its own.
        let stored = try await database.psql("SELECT count(*) FROM parcels")
        #expect(stored.output.trimmingCharacters(in: .whitespacesAndNewlines) == "200", "\(stored.errors)")
        // The soak read the store's size from PostgreSQL (its tables), at every interval.
        let soak = try #require((report["soak"] as? [String: Any])?["intervals"] as? [[String: Any]])
        #expect(!soak.isEmpty && soak.allSatisfy { ($0["store_mb"] as? Double ?? 0) > 0 }, "\(soak)")
        try await database.drop()
    }

    @Test("delivery through the HTTP handler against the test's own service failing a fifth of the time, workers killed: every parcel handed over once and the store agrees",
          .timeLimit(.minutes(3)))
    func loadTestThroughHTTPHandler() async throws {
        let (status, report) = try await loadtest([
            "--parcels", "200", "--workers", "2", "--concurrency", "8", "--stage-time", "1ms-3ms",
            "--http-stages", "delivery", "--http-fault-rate", "0.2", "--http-delay", "2ms",
            "--max-attempts", "10", "--kill-worker-every", "0.5",
        ])
        #expect(status == 0, "violations: \(report["violations"] ?? "")")
        #expect(report["delivered"] as? Int == 200 && report["lost"] as? Int == 0 && report["duplicated"] as? Int == 0)
        let http = try #require(report["http_handler"] as? [String: Any], "no http_handler in \(report)")
        #expect(http["stages"] as? [String] == ["delivery"])
        #expect((http["taken"] as? [String: Any])?["delivery"] as? Int == 200, "\(http)")
        #expect(http["agrees_with_store"] as? Bool == true && http["invalid"] as? Int == 0)
        // The faults happened, and were retried: more requests than handovers.
        let faults = http["faults"] as? Int ?? 0
        #expect(faults > 0 && (http["requests"] as? Int ?? 0) >= 200 + faults, "\(http)")
    }

    @Test("the handover check names a parcel the store has delivered that the service never took, and one taken but not delivered",
          .timeLimit(.minutes(1)))
    func handoverCheckCatchesDisagreement() async throws {
        let server = try await HandoverServer.start()
        let client = try HTTPHandlerClient(logger: Logger(label: "test"))
        let handler = HTTPStageHandler(stage: .delivery, endpoint: try HandoverEndpoint(server.url), client: client,
                                       logger: Logger(label: "test"))
        let store = InMemoryStatusStore()
        let parcels = SubmitFixture.parcels(3)
        _ = try await store.submit(parcels, at: Date())
        // P1: delivered, and handed over. P2: delivered in the store only. P3: handed over only.
        for parcel in parcels.prefix(2) {
            for stage in Stage.allCases {
                _ = try await store.apply(.queued(stage), to: parcel.id)
                _ = try await store.apply(.completed(stage), to: parcel.id)
            }
        }
        let handover: LoadTestReport.Handover
        do {
            for parcel in [parcels[0], parcels[2]] {
                // A delivery task carries what the stages before it recorded.
                var task = TaskEnvelope(parcel: parcel, stage: .delivery, createdAt: Date(), submittedAt: Date())
                for stage in Stage.allCases where stage < .delivery {
                    task.payload = task.payload.fillingIn(recordedBy: stage, from: task, at: Date())
                }
                _ = try await handler.handle(task, context: HandlerContext(task, timeout: .seconds(10)))
            }
            handover = try await LoadTestReport.Handover.check(
                server: server, stages: [.delivery], faultRate: 0, parcelIDs: parcels.map(\.id), store: store)
        } catch {
            await client.shutdown()
            await server.stop()
            throw error
        }
        await client.shutdown()
        await server.stop()
        #expect(handover.taken[.delivery] == 2)
        let text = handover.mismatches.joined(separator: "\n")
        #expect(handover.mismatches.count == 2, "\(text)")
        #expect(text.contains("were never handed over to the service: \(parcels[1].id)"), "\(text)")
        #expect(text.contains("are not past it in the store: \(parcels[2].id)"), "\(text)")
        let report = LoadTestReport(
            parcels: 3, counts: [.delivered: 3], audit: StoreAudit(), snapshot: StoreSnapshot(),
            queues: .init(readable: true, leftInWorkQueues: [:], deadLetters: 0), seconds: 1, workers: 1, kills: 0,
            brokerRestarts: 0, cpu: .init(workers: 0, broker: 0, parcelctl: 0, storeWriting: 0, wall: 1),
            workerPeakResidentBytes: 0, workerExits: [0], handover: handover)
        #expect(!report.passed && report.violations.contains { $0.contains("never handed over") })
    }

    @Test("the verdict names each broken invariant: parcels missing or not final, a stage applied twice, queues not empty")
    func verdictCatchesViolations() {
        var audit = StoreAudit()
        audit.appliedTwice = ["P-7"]
        let report = LoadTestReport(
            parcels: 10, counts: [.delivered: 7, .queued: 1], audit: audit, snapshot: StoreSnapshot(),
            queues: .init(readable: true, leftInWorkQueues: ["lt.packaging": 1], deadLetters: 0), seconds: 1,
            workers: 1, kills: 0, brokerRestarts: 0,
            cpu: .init(workers: 0, broker: 0, parcelctl: 0, storeWriting: 0, wall: 1), workerPeakResidentBytes: 0, workerExits: [0])
        #expect(!report.passed)
        #expect(report.lost == 3)
        #expect(report.duplicated == 1)
        let text = report.violations.joined(separator: "\n")
        for expected in ["holds 8 parcels, 10 were submitted", "3 parcel(s) never reached a final state", "P-7",
                         "= 7, not 10", "lt.packaging 1"] {
            #expect(text.contains(expected), "\(expected) missing from: \(text)")
        }
        guard case .object(let json) = report.json else { Issue.record("not an object"); return }
        #expect(json["ok"] == .bool(false) && json["lost"] == .integer(3) && json["duplicated"] == .integer(1))
    }
}
