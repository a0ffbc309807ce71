import AMQP
import Foundation
import Logging
import ParcelCore
import ParcelHTTPHandler
import ParcelLoadTest
import ParcelRabbit
import ParcelStoreSQLite
import ParcelTestSupport
import ParcelWorkerRuntime
import Testing

/// The HTTP stage handler in a worker, against a real HTTP server (``HandoverServer``), a real broker
/// and a real store: in this process through the task processor, and as a built `parcel-worker`.
@Suite("HTTP handler in a worker", .serialized)
struct HTTPHandlerWorkerTests {
    /// Delivery's events done (completed or delivered) for `parcelID`.
    static func deliveriesRecorded(_ parcelID: String, in store: SQLiteStatusStore) async throws -> Int {
        try await store.history(parcelID).filter { $0.stage == .delivery && ($0.kind == .completed || $0.kind == .delivered) }.count
    }

    @Test("503 with Retry-After: the task is retried and the retry succeeds", .timeLimit(.minutes(1)))
    func retryAfterThenSuccess() async throws {
        let server = try await HandoverServer.start()
        let client = try HTTPHandlerClient(logger: Logger(label: "test"))
        let handler = HTTPStageHandler(stage: .collection, endpoint: try HandoverEndpoint(server.url), client: client,
                                       logger: Logger(label: "test"))
        let parcel = SubmitFixture.parcels(1)[0]
        server.script(parcel: parcel.id, [HandoverServer.Answer(status: 503, headers: ["Retry-After": "1"]),
                                          HandoverServer.Answer(status: 200, body: #"{"collection_point": "gate 4"}"#)])
        let fixture = try await WorkerFixture.start(handlers: [.collection: handler])
        try await fixture.submitParcels([parcel])
        #expect(try await fixture.waitUntilFinal([parcel.id]))
        #expect(try await fixture.store.record(parcel.id)?.status == .delivered)
        let history = try await fixture.store.history(parcel.id)
        let retries = history.filter { $0.kind == .retrying }
        #expect(retries.count == 1 && retries.first?.stage == .collection, "\(history.map(\.kind))")
        #expect(retries.first?.detail?.contains("HTTP 503 from 127.0.0.1:\(server.port) (retry after 1 s)") == true,
                "\(String(describing: retries.first?.detail))")
        let seen = server.seen("\(parcel.id):collection")
        #expect(seen.statuses == [503, 200] && seen.attempts == ["1", "2"])
        try await fixture.stop()
        await client.shutdown()
        await server.stop()
    }

    /// A fixture whose parcels go in through `parcelctl submit`, and a worker whose delivery is the
    /// HTTP handler pointed at `server`.
    static func start(_ server: HandoverServer, parcels: [Parcel], arguments: [String] = [])
        async throws -> (SubmitFixture, WorkerProcess)
    {
        let fixture = try SubmitFixture.withMillisecondRetries()
        try await fixture.declare()
        // With a user and password, which no log line may show.
        let url = "http://carrier:s3cret@127.0.0.1:\(server.port)\(HandoverServer.path)"
        let worker = try WorkerProcess(fixture, arguments: ["--handler", "delivery=http:\(url)"] + arguments, name: "http")
        #expect(try await eventually(timeout: .seconds(30)) { worker.isWorking }, "\(worker.output)")
        var environment = fixture.cli().environment
        environment["PARCELFLOW_RETRY_DELAYS"] = fixture.topology.retryDelays.map(ParcelTopology.delayName).joined(separator: ",")
        let file = try fixture.write("parcels.csv", SubmitFixture.csv(parcels))
        let submitted = try await Parcelctl(environment: environment).run(["submit", "--file", file])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        return (fixture, worker)
    }

    @Test("parcel-worker --handler delivery=http:URL: parcels through a server failing a third of the time all end delivered, each handed over once",
          .timeLimit(.minutes(2)))
    func endToEnd() async throws {
        let server = try await HandoverServer.start(behaviour: .init(faultRate: 0.3))
        let parcels = SubmitFixture.parcels(20)
        let metricsPort = try freePort()
        let (fixture, worker) = try await Self.start(server, parcels: parcels,
                                                     arguments: ["--max-attempts", "12", "--metrics-port", "\(metricsPort)"])
        let finished = try await eventually(timeout: .seconds(60)) { try await fixture.statesCount() == [.delivered: 20] }
        let states = try await fixture.statesCount()
        #expect(finished, "\(states) \(worker.output.suffix(2000))")
        try await fixture.checkAllFinalAndAppliedOnce(parcels)
        #expect(server.keys == Set(parcels.map { "\($0.id):delivery" }))
        for parcel in parcels {
            let seen = server.seen("\(parcel.id):delivery")
            #expect(seen.statuses.last == 200 && seen.statuses.filter { $0 == 200 }.count == 1, "\(parcel.id): \(seen.statuses)")
        }
        #expect(server.totals.faults > 0, "the server injected no fault: nothing retried")
        #expect(server.totals.invalid == 0)
        // The answers, counted by stage and class.
        let metrics = try await httpGet("http://127.0.0.1:\(metricsPort)/metrics").body
        let answers = metrics.split(separator: "\n").filter { $0.hasPrefix("\(ParcelMetrics.httpHandlerAnswers){") }
        func count(_ answer: String) -> Int {
            answers.filter { $0.contains("answer=\"\(answer)\"") && $0.contains("stage=\"delivery\"") }
                .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
        }
        #expect(count("2xx") == 20 && count("5xx") == server.totals.faults, "\(answers)")
        #expect(metrics.contains("# HELP \(ParcelMetrics.httpHandlerAnswers) "))
        worker.signal(SIGTERM)
        #expect(await worker.exitStatus(timeout: .seconds(15)) == 0, "\(worker.output.suffix(2000))")
        #expect(worker.output.contains("delivery=http:http://…@127.0.0.1:\(server.port)/handover"), "\(worker.output.prefix(3000))")
        #expect(!worker.output.contains("s3cret"))
        await server.stop()
        try await fixture.tearDown()
    }

    @Test("a worker keeps as many connections to the service as it has tasks in flight, not the HTTP client's default 8",
          .timeLimit(.minutes(2)))
    func connectionsFollowConcurrency() async throws {
        // A slow service: with 8 connections, at most 8 requests could be in it at once.
        let server = try await HandoverServer.start(behaviour: .init(delay: .milliseconds(400)))
        let parcels = SubmitFixture.parcels(40)
        let (fixture, worker) = try await Self.start(server, parcels: parcels, arguments: ["--concurrency", "32"])
        let finished = try await eventually(timeout: .seconds(60)) { try await fixture.statesCount() == [.delivered: 40] }
        #expect(finished, "\(worker.output.suffix(2000))")
        #expect(server.mostInFlight > 8 && server.mostInFlight <= 32, "at most \(server.mostInFlight) requests at once")
        worker.signal(SIGTERM)
        #expect(await worker.exitStatus(timeout: .seconds(15)) == 0, "\(worker.output.suffix(2000))")
        await server.stop()
        try await fixture.tearDown()
    }

    @Test("SIGTERM while the handover is in flight: the request completes, the worker exits 0, the parcel is delivered once",
          .timeLimit(.minutes(2)))
    func sigtermDuringRequest() async throws {
        let server = try await HandoverServer.start()
        let parcel = SubmitFixture.parcels(1)[0]
        let key = "\(parcel.id):delivery"
        server.script(parcel: parcel.id, [HandoverServer.Answer(status: 200, delay: .seconds(2))])
        let (fixture, worker) = try await Self.start(server, parcels: [parcel])
        #expect(try await eventually(timeout: .seconds(30)) { server.seen(key).arrived == 1 }, "\(worker.output.suffix(2000))")
        #expect(server.seen(key).answered == 0, "signalled while the request is in flight")
        worker.signal(SIGTERM)
        let status = await worker.exitStatus(timeout: .seconds(15))
        #expect(status == 0, "\(worker.output.suffix(2000))")
        #expect(server.seen(key) == HandoverServer.Seen(arrived: 1, answered: 1, statuses: [200], attempts: ["1"]))
        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        #expect(try await store.record(parcel.id)?.status == .delivered)
        #expect(try await Self.deliveriesRecorded(parcel.id, in: store) == 1)
        #expect(try await store.history(parcel.id).filter { $0.kind == .retrying }.isEmpty)
        await store.close()
        await server.stop()
        try await fixture.tearDown()
    }

    @Test("a bad handler URL or CA file stops the worker at start with a clear error that names no credentials")
    func badSettings() async throws {
        let fixture = try SubmitFixture()
        let worker = try WorkerProcess(fixture, arguments: ["--handler", "delivery=http:https://u:s3cret@host/x#frag"], name: "bad-url")
        #expect(await worker.exitStatus(timeout: .seconds(15)).map { $0 != 0 } == true)
        #expect(worker.output.contains("has a fragment"), "\(worker.output)")
        #expect(!worker.output.contains("s3cret"))
        let missingCA = try BackgroundProcess(
            builtProduct("parcel-worker") ?? repositoryRoot.appendingPathComponent(".build/debug/parcel-worker"),
            ["--handler", "delivery=http:http://127.0.0.1:9/x"],
            environment: ["PARCELFLOW_HTTP_CA_FILE": fixture.directory.appendingPathComponent("none.pem").path,
                          "PARCELFLOW_STORE": "sqlite:\(fixture.storePath)"],
            log: fixture.directory.appendingPathComponent("ca.log"))
        #expect(await missingCA.exitStatus(timeout: .seconds(15)).map { $0 != 0 } == true)
        #expect(missingCA.output.contains("PARCELFLOW_HTTP_CA_FILE: the CA file"), "\(missingCA.output)")
        try? FileManager.default.removeItem(at: fixture.directory)
    }
}
