import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// A `parcel-worker` process, as ops run it, over a fixture's namespace and store.
final class WorkerProcess: Sendable {
    let background: BackgroundProcess
    /// Where the worker reports its phase and counts (`--status-file`).
    let statusFile: URL

    /// `url`: the broker and the user to log in as (the suite's guest unless a test says otherwise).
    /// `environment`: further variables (PARCELFLOW_HANDLERS, …).
    init(_ fixture: SubmitFixture, arguments: [String] = [], name: String, url: String = Broker.url,
         environment: [String: String] = [:]) throws {
        statusFile = fixture.directory.appendingPathComponent("\(name).status.json")
        background = try BackgroundProcess(
            builtProduct("parcel-worker") ?? repositoryRoot.appendingPathComponent(".build/debug/parcel-worker"),
            ["--retry-delays", fixture.topology.retryDelays.map(ParcelTopology.delayName).joined(separator: ","),
             "--shutdown-timeout", "10", "--status-file", statusFile.path] + arguments,
            environment: ["PARCELFLOW_AMQP_URL": url, "PARCELFLOW_STORE": "sqlite:\(fixture.storePath)",
                          "PARCELFLOW_NAMESPACE": fixture.topology.namespace].merging(environment) { $1 },
            log: fixture.directory.appendingPathComponent("\(name).log"))
    }

    var process: Process { background.process }

    func signal(_ number: Int32) { background.signal(number) }

    func exitStatus(timeout: Duration) async -> Int32? { await background.exitStatus(timeout: timeout) }

    func stop() async { await background.stop() }

    var output: String { background.output }

    /// What the worker last reported of itself.
    var report: WorkerStatusReport? { WorkerStatusReport.read(from: statusFile.path) }

    /// Connected and consuming.
    var isWorking: Bool { report?.phase == "working" }
}

extension SubmitFixture {
    static func withMillisecondRetries() throws -> SubmitFixture {
        var fixture = try SubmitFixture()
        fixture.topology.retryDelays = [.milliseconds(50), .milliseconds(200)]
        return fixture
    }

    func submitWithLibrary(_ parcels: [Parcel], url: String = Broker.url) async throws {
        let store = try await SQLiteStatusStore.open(path: storePath)
        let connection = try await AMQPConnection.connect(AMQPConfiguration(url: url, connectionName: "test submit"))
        let channel = try await connection.openChannel()
        try await channel.enableConfirms()
        _ = try await ParcelSubmitter(publisher: channel, store: store, topology: topology).submit(parcels)
        await connection.close()
        await store.close()
    }

    /// Every parcel final; each stage applied exactly once for every parcel that got through it.
    func checkAllFinalAndAppliedOnce(_ parcels: [Parcel]) async throws {
        let store = try await SQLiteStatusStore.open(path: storePath)
        for parcel in parcels {
            let record = try #require(try await store.record(parcel.id))
            #expect(record.status.isFinal, "\(parcel.id) is \(record.status)")
            let done = try await store.history(parcel.id).filter { $0.kind == .completed || $0.kind == .delivered }
            #expect(done.map(\.stage) == Array(Stage.allCases.prefix(done.count)), "\(parcel.id): \(done.map(\.stage))")
        }
        await store.close()
    }

    func statesCount() async throws -> [ParcelStatus.State: Int] {
        let store = try await SQLiteStatusStore.open(path: storePath)
        defer { Task { await store.close() } }
        return try await store.countsByState()
    }
}

@Suite("Worker processes", .serialized)
struct WorkerProcessTests {
    @Test("200 parcels with two parcel-worker processes: all delivered, each stage applied once", .timeLimit(.minutes(2)))
    func twoWorkers() async throws {
        let fixture = try SubmitFixture.withMillisecondRetries()
        try await fixture.declare()
        let workers = try (1...2).map { try WorkerProcess(fixture, arguments: ["--stage-time", "0ms-2ms"], name: "w\($0)") }
        let parcels = SubmitFixture.parcels(200)
        try await fixture.submitWithLibrary(parcels)
        #expect(try await eventually(timeout: .seconds(60)) { try await fixture.statesCount() == [.delivered: 200] })
        try await fixture.checkAllFinalAndAppliedOnce(parcels)
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers {
            let status = await worker.exitStatus(timeout: .seconds(15))
            #expect(status == 0, "\(worker.output.suffix(2000))")
        }
        try await fixture.tearDown()
    }

    @Test("SIGTERM during a batch: exit 0, nothing lost, nothing half-done; a second signal exits at once",
          .timeLimit(.minutes(2)))
    func gracefulShutdown() async throws {
        let fixture = try SubmitFixture.withMillisecondRetries()
        try await fixture.declare()
        let parcels = SubmitFixture.parcels(60)
        try await fixture.submitWithLibrary(parcels)
        let worker = try WorkerProcess(fixture, arguments: ["--stage-time", "40ms", "--concurrency", "8"], name: "graceful")
        // Mid-batch: once the first parcel is through (all 60 take about 1.2 s).
        #expect(try await eventually(timeout: .seconds(20)) { (try await fixture.statesCount()[.delivered] ?? 0) > 0 })
        worker.signal(SIGTERM)
        let status = await worker.exitStatus(timeout: .seconds(15))
        #expect(status == 0, "\(worker.output.suffix(2000))")
        // Nothing half-done: no parcel left "processing"; the rest wait on their queues.
        let states = try await fixture.statesCount()
        #expect(states[.processing] == nil, "\(states)")
        #expect(states.values.reduce(0, +) == 60)
        #expect((states[.delivered] ?? 0) < 60, "the worker was stopped after the batch, not during it: \(states)")

        // A second signal while tasks are still running: out at once with 130, not after the 30 s
        // the first one allows them.
        let impatient = try WorkerProcess(fixture, arguments: ["--stage-time", "5s", "--shutdown-timeout", "30"],
                                          name: "impatient")
        #expect(try await eventually(timeout: .seconds(20)) { (try await fixture.statesCount()[.processing] ?? 0) > 0 })
        impatient.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(100))
        impatient.signal(SIGTERM)
        let second = await impatient.exitStatus(timeout: .seconds(3))
        #expect(second == 130, "\(impatient.output.suffix(2000))")

        // What it left started comes back and is finished by another worker, each stage once.
        let finisher = try WorkerProcess(fixture, arguments: ["--stage-time", "0ms"], name: "finisher")
        #expect(try await eventually(timeout: .seconds(60)) { try await fixture.statesCount() == [.delivered: 60] })
        try await fixture.checkAllFinalAndAppliedOnce(parcels)
        finisher.signal(SIGTERM)
        #expect(await finisher.exitStatus(timeout: .seconds(15)) == 0)
        try await fixture.tearDown()
    }

    @Test("kill -9 of one worker during a batch: the other finishes everything", .timeLimit(.minutes(2)))
    func killedWorker() async throws {
        let fixture = try SubmitFixture.withMillisecondRetries()
        try await fixture.declare()
        let parcels = SubmitFixture.parcels(150)
        // 600 tasks of 30–60 ms, 16 at a time: about 1.7 s of work.
        let victim = try WorkerProcess(fixture, arguments: ["--stage-time", "30ms-60ms", "--concurrency", "8"], name: "victim")
        let survivor = try WorkerProcess(fixture, arguments: ["--stage-time", "30ms-60ms", "--concurrency", "8"], name: "survivor")
        try await fixture.submitWithLibrary(parcels)
        // Mid-batch: once the first parcels are through, with work left for the survivor to take over.
        #expect(try await eventually(timeout: .seconds(20)) { (try await fixture.statesCount()[.delivered] ?? 0) > 0 })
        #expect((try await fixture.statesCount()[.delivered] ?? 0) < parcels.count)
        victim.signal(SIGKILL)
        let killed = await victim.exitStatus(timeout: .seconds(5))
        #expect(killed != nil && killed != 0)
        #expect(try await eventually(timeout: .seconds(90)) { try await fixture.statesCount() == [.delivered: 150] })
        try await fixture.checkAllFinalAndAppliedOnce(parcels)
        survivor.signal(SIGTERM)
        #expect(await survivor.exitStatus(timeout: .seconds(15)) == 0)
        try await fixture.tearDown()
    }

    @Test("a parcel that crashes every worker is quarantined at the delivery limit; work goes on", .timeLimit(.minutes(2)))
    func poisonQuarantined() async throws {
        var fixture = try SubmitFixture.withMillisecondRetries()
        fixture.topology.deliveryLimit = 2
        try await fixture.declare()
        let parcels = SubmitFixture.parcels(4)
        let poison = parcels[0]
        try await fixture.submitWithLibrary([poison])
        let arguments = ["--delivery-limit", "2", "--concurrency", "1", "--crash-on", poison.id]

        // Like a supervisor: start a worker again each time the poison kills it.
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        var crashes = 0
        var quarantined = false
        for attempt in 1...6 where !quarantined {
            let worker = try WorkerProcess(fixture, arguments: arguments, name: "poisoned-\(attempt)")
            // Until this worker dies, or the parcel turns up in the dead-letter queue.
            _ = try await eventually(timeout: .seconds(10)) {
                quarantined = try await channel.queueState(fixture.topology.deadQueue).messageCount == 1
                return quarantined || !worker.process.isRunning
            }
            if quarantined {
                worker.signal(SIGTERM)
                #expect(await worker.exitStatus(timeout: .seconds(10)) == 0)
            } else {
                let status = await worker.exitStatus(timeout: .seconds(10))
                #expect(status != nil && status != 0)
                crashes += 1
            }
        }
        #expect(quarantined)
        // Delivery limit 2: the first two deliveries kill a worker each; the third worker sees the count
        // and quarantines the parcel itself instead of running it again.
        #expect(crashes == 2)
        let letter = try #require(try await channel.get(queue: fixture.topology.deadQueue, autoAck: true))
        #expect(letter.properties.correlationID == poison.id)
        #expect(letter.headers[DeadLetter.Header.kind]?.stringValue == "poison")
        #expect(letter.headers[DeadLetter.Header.reason]?.stringValue?.contains("kept stopping workers") == true)
        let states = try await fixture.statesCount()
        #expect(states == [.deadLettered: 1], "the store knows: \(states)")
        #expect(try await channel.queueState(fixture.topology.stageQueue(.collection)).messageCount == 0)
        await connection.close()

        // The fleet is not stuck: the next parcels go through.
        let worker = try WorkerProcess(fixture, arguments: arguments, name: "healthy")
        let others = Array(parcels.dropFirst())
        try await fixture.submitWithLibrary(others)
        #expect(try await eventually(timeout: .seconds(30)) {
            try await fixture.statesCount()[.delivered] == others.count
        })
        worker.signal(SIGTERM)
        #expect(await worker.exitStatus(timeout: .seconds(15)) == 0)
        try await fixture.tearDown()
    }
}
