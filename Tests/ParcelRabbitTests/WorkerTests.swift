import AMQP
import Foundation
import ParcelCore
import ParcelWorkerRuntime
import ParcelRabbit
import ParcelStoreSQLite
import Logging
import ParcelTestSupport
import Synchronization
import Testing

/// A handler that fails transiently until the given attempt, recording when each attempt ran.
final class FlakyHandler: StageHandler {
    let succeedAt: Int

    init(succeedAt: Int) { self.succeedAt = succeedAt }
    let attempts = Mutex<[(attempt: Int, at: ContinuousClock.Instant)]>([])

    func handle(_ task: TaskEnvelope, context: HandlerContext) async throws(TaskFailure) -> StageOutcome {
        attempts.withLock { $0.append((task.attempt, ContinuousClock.now)) }
        if task.attempt < succeedAt { throw .transient("depot closed (attempt \(task.attempt))") }
        return .completed(StagePayload(collectedAt: Date(), collectionPoint: task.parcel.origin))
    }
}

/// A worker in this process, on a namespace and store of the test's own.
struct WorkerFixture {
    let submit: SubmitFixture
    let store: SQLiteStatusStore
    let worker: StageWorker
    let task: Task<Void, any Error>

    static func start(retryDelays: [Duration] = [.milliseconds(100), .milliseconds(300)], maxAttempts: Int = 5,
                      handlers: [Stage: any StageHandler] = [:], url: String = Broker.url,
                      amqp: AMQPConfiguration? = nil,
                      connectionName: String = "test worker", storeFaults: StoreFaults? = nil,
                      submit given: SubmitFixture? = nil,
                      logger: Logger = Logger(label: "parcelflow.worker")) async throws -> WorkerFixture {
        var submit = try given ?? SubmitFixture()
        submit.topology.retryDelays = retryDelays
        if given == nil { try await submit.declare() }
        let store = try await SQLiteStatusStore.open(path: submit.storePath)
        var all: [Stage: any StageHandler] = [:]
        for stage in Stage.allCases { all[stage] = handlers[stage] ?? SimulatedStageHandler(stage: stage, seed: 7) }
        let processor = TaskProcessor(store: storeFaults.map { FaultyStore(store, faults: $0) } ?? store, handlers: all,
                                      retry: RetryPolicy(maxAttempts: maxAttempts, delays: retryDelays), worker: "test")
        let worker = StageWorker(
            transport: RabbitTransport(amqp: try amqp ?? AMQPConfiguration(url: url, connectionName: connectionName), topology: submit.topology,
                                       logger: logger),
            configuration: .init(concurrency: 8, shutdownTimeout: .seconds(5),
                                 reconnect: ReconnectPolicy(delay: .milliseconds(100) ... .seconds(1), brokerWait: .zero),
                                 deliveryLimit: submit.topology.deliveryLimit),
            processor: processor, logger: logger)
        let task = Task { try await worker.run() }
        return WorkerFixture(submit: submit, store: store, worker: worker, task: task)
    }

    func submitParcels(_ parcels: [Parcel], url: String = Broker.url) async throws {
        let connection = try await AMQPConnection.connect(AMQPConfiguration(url: url, connectionName: "test submit"))
        let channel = try await connection.openChannel()
        try await channel.enableConfirms()
        _ = try await ParcelSubmitter(publisher: channel, store: store, topology: submit.topology).submit(parcels)
        await connection.close()
    }

    /// Waits until every one of `ids` is in a final state.
    func waitUntilFinal(_ ids: [String], timeout: Duration = .seconds(30)) async throws -> Bool {
        try await eventually(timeout: timeout) {
            for id in ids where try await store.record(id)?.status.isFinal != true { return false }
            return true
        }
    }

    func stop() async throws {
        task.cancel()
        try await task.value
        await store.close()
        try await submit.tearDown()
    }
}


@Suite("Workers against the real broker")
struct WorkerTests {
    @Test("the broker closes only the publishing connection: the publisher connects again by itself, the consumers carry on, and every parcel ends final, once",
          .timeLimit(.minutes(1)))
    func publisherConnectionClosed() async throws {
        let node = try #require(Broker.environment["PARCELFLOW_BROKER_NODE"],
                                "deploy/local/test.sh exports the node name of the broker it runs")
        let name = Broker.unique("publisher-loss")
        var handlers: [Stage: any StageHandler] = [:]
        for stage in Stage.allCases {
            handlers[stage] = SimulatedStageHandler(stage: stage, workTime: .milliseconds(2) ... .milliseconds(6), seed: 5)
        }
        let fixture = try await WorkerFixture.start(handlers: handlers, connectionName: name)
        let parcels = SubmitFixture.parcels(80)
        try await fixture.submitParcels(parcels)
        try await Task.sleep(for: .milliseconds(150))

        let rabbitmqctl = URL(fileURLWithPath: "/usr/lib/rabbitmq/bin/rabbitmqctl")
        let listing = try await runChild(rabbitmqctl, ["-q", "-n", node, "list_connections", "pid", "client_properties"])
        let pids = listing.lines.filter { $0.contains("\(name) (publisher)") }.compactMap { $0.split(separator: "\t").first }
        try #require(pids.count == 1, "the worker's publishing connection: \(listing.output)\(listing.errors)")
        let closed = try await runChild(rabbitmqctl, ["-q", "-n", node, "close_connection", String(pids[0]), "test: publisher lost"])
        #expect(closed.status == 0, "\(closed.errors)")
        let later = SubmitFixture.parcels(120).suffix(40)
        try await fixture.submitParcels(Array(later))

        #expect(try await fixture.waitUntilFinal((parcels + later).map(\.id)))
        try await fixture.submit.checkAllFinalAndAppliedOnce(parcels + later)
        let after = try await runChild(rabbitmqctl, ["-q", "-n", node, "list_connections", "pid", "client_properties"])
        let replaced = after.lines.filter { $0.contains("\(name) (publisher)") }.compactMap { $0.split(separator: "\t").first }
        #expect(replaced.count == 1 && replaced[0] != pids[0], "a new publishing connection: \(after.output)")
        #expect(fixture.worker.counts.reconnects == 0, "the consuming side never had to reconnect")
        try await fixture.stop()
    }

    @Test("the store fails now and then under the worker: the batches wait, unacknowledged, and every parcel still ends final, once",
          .timeLimit(.minutes(1)))
    func storeFailures() async throws {
        // The 2nd and 5th batch reads and the 3rd and 6th writes fail, as a locked or full disk would.
        let faults = StoreFaults(failingReads: [2, 5], failingWrites: [3, 6])
        let fixture = try await WorkerFixture.start(storeFaults: faults)
        let parcels = SubmitFixture.parcels(60)
        try await fixture.submitParcels(parcels)
        #expect(try await fixture.waitUntilFinal(parcels.map(\.id)))
        try await fixture.submit.checkAllFinalAndAppliedOnce(parcels)
        #expect(faults.failed == 4)
        #expect(fixture.worker.counts.storeFailures == 4)
        #expect(fixture.worker.counts.requeued == 0, "a store failure puts nothing back on a queue")
        try await fixture.stop()
    }

    @Test("one parcel goes through all four stages, and its history lists every stage in order", .timeLimit(.minutes(1)))
    func oneParcel() async throws {
        let fixture = try await WorkerFixture.start()
        let parcel = SubmitFixture.parcels(1)[0]
        try await fixture.submitParcels([parcel])
        #expect(try await fixture.waitUntilFinal([parcel.id]))
        #expect(try await fixture.store.record(parcel.id)?.status == .delivered)
        let history = try await fixture.store.history(parcel.id)
        #expect(history.filter { $0.kind == .completed || $0.kind == .delivered }.map(\.stage) == Stage.allCases)
        #expect(history.map(\.kind).first == .submitted && history.last?.kind == .delivered)
        // What staff see: `parcelctl status` lists every stage in order.
        let cli = fixture.submit.cli()
        let status = try await cli.run(["status", parcel.id])
        #expect(status.stdout.contains("Parcel \(parcel.id): delivered"), "\(status.stdout)\(status.stderr)")
        let done = status.stdout.split(separator: "\n").filter { $0.contains(" completed ") || $0.contains(" delivered ") }
        #expect(done.map { line in Stage.allCases.first { line.contains(" \($0.rawValue) ") } } == Stage.allCases.map { $0 })
        try await fixture.stop()
    }

    @Test("a transient failure is retried with growing delays, then succeeds", .timeLimit(.minutes(1)))
    func retriedThenDelivered() async throws {
        let flaky = FlakyHandler(succeedAt: 3)
        let fixture = try await WorkerFixture.start(handlers: [.collection: flaky])
        let parcel = SubmitFixture.parcels(1)[0]
        try await fixture.submitParcels([parcel])
        #expect(try await fixture.waitUntilFinal([parcel.id]))
        #expect(try await fixture.store.record(parcel.id)?.status == .delivered)
        let attempts = flaky.attempts.withLock { $0 }
        #expect(attempts.map(\.attempt) == [1, 2, 3])
        if attempts.count == 3 {
            // Each wait is at least its tier's delay less the jitter (20 %): 80 ms, then 240 ms; a loaded
            // machine may add to either.
            let first = attempts[1].at - attempts[0].at, second = attempts[2].at - attempts[1].at
            #expect(first >= .milliseconds(80), "first retry after \(first)")
            #expect(second >= .milliseconds(240), "second retry after \(second)")
        }
        let retries = try await fixture.store.history(parcel.id).filter { $0.kind == .retrying }
        #expect(retries.map(\.attempt) == [1, 2])
        try await fixture.stop()
    }

    @Test("attempts exhausted: the dead letter carries stage, attempts and reason", .timeLimit(.minutes(1)))
    func exhaustedToDeadLetter() async throws {
        let fixture = try await WorkerFixture.start(maxAttempts: 2, handlers: [.packaging: FlakyHandler(succeedAt: 99)])
        let parcel = SubmitFixture.parcels(1)[0]
        try await fixture.submitParcels([parcel])
        #expect(try await fixture.waitUntilFinal([parcel.id]))
        let status = try await fixture.store.record(parcel.id)?.status
        #expect(status?.state == .deadLettered && status?.stage == .packaging)
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        // The store is written first, the dead letter published next: wait for it to arrive.
        #expect(try await eventually(timeout: .seconds(10)) {
            try await channel.queueState(fixture.submit.topology.deadQueue).messageCount == 1
        })
        let letter = try #require(try await channel.get(queue: fixture.submit.topology.deadQueue, autoAck: true))
        #expect(letter.headers[DeadLetter.Header.stage]?.stringValue == "packaging")
        #expect(letter.headers[DeadLetter.Header.attempts]?.intValue == 2)
        #expect(letter.headers[DeadLetter.Header.kind]?.stringValue == "transient")
        #expect(letter.headers[DeadLetter.Header.reason]?.stringValue?.contains("gave up after 2 attempts") == true)
        #expect(try TaskEnvelope.decode(letter.body).get().parcelID == parcel.id)
        await connection.close()
        try await fixture.stop()
    }

    @Test("malformed and schema-invalid messages from a plain AMQP client are dead-lettered; the worker goes on",
          .timeLimit(.minutes(1)))
    func poisonInput() async throws {
        let fixture = try await WorkerFixture.start()
        let topology = fixture.submit.topology
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        try await channel.enableConfirms()
        for body in ["{this is not json", #"{"schema_version":1,"stage":"collection"}"#] {
            try await channel.publish(AMQPOutboundMessage(exchange: topology.tasksExchange, routingKey: "collection",
                                                          body: Data(body.utf8), properties: AMQPProperties(deliveryMode: 2)))
        }
        let parcel = SubmitFixture.parcels(1)[0]
        try await fixture.submitParcels([parcel])
        #expect(try await fixture.waitUntilFinal([parcel.id]))
        #expect(try await eventually(timeout: .seconds(10)) { try await channel.queueState(topology.deadQueue).messageCount == 2 })
        var reasons: [String] = []
        while let letter = try await channel.get(queue: topology.deadQueue, autoAck: true) {
            #expect(letter.headers[DeadLetter.Header.kind]?.stringValue == "invalid")
            reasons.append(letter.headers[DeadLetter.Header.reason]?.stringValue ?? "")
        }
        #expect(reasons.contains { $0.contains("not valid JSON") })
        #expect(reasons.contains { $0.contains("task_id: is missing") })
        await connection.close()
        try await fixture.stop()
    }

    @Test("a crash between publishing the next stage and the ack ends with the parcel delivered once", .timeLimit(.minutes(1)))
    func crashBeforeAck() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let parcel = SubmitFixture.parcels(1)[0]
        try await fixture.submitWithLibrary([parcel])

        // A worker that dies at the worst moment: the store updated, the next stage published and
        // confirmed, the collection task never acknowledged.
        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        var handlers: [Stage: any StageHandler] = [:]
        for stage in Stage.allCases { handlers[stage] = SimulatedStageHandler(stage: stage, seed: 1) }
        let doomed = TaskProcessor(store: store, handlers: handlers, retry: RetryPolicy(delays: [.seconds(1)]), worker: "doomed")
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        try await channel.enableConfirms()
        let delivery = try #require(try await channel.get(queue: fixture.topology.stageQueue(.collection)))
        let decision = try await doomed.process(body: delivery.body, queueStage: .collection)
        guard case .next(let packaging) = decision.publish else {
            Issue.record("expected the packaging task, got \(decision)")
            return
        }
        try await channel.publish(AMQPOutboundMessage(
            exchange: fixture.topology.tasksExchange, routingKey: "packaging", body: packaging.encoded(),
            properties: .persistentJSON(messageID: packaging.taskID, correlationID: packaging.parcelID), mandatory: true))
        await connection.close()  // no ack: the broker puts the collection task back
        await store.close()

        // A healthy worker gets both the redelivered collection task and the packaging task.
        let worker = try await WorkerFixture.start(submit: fixture)
        #expect(try await worker.waitUntilFinal([parcel.id]))
        #expect(try await worker.store.record(parcel.id)?.status == .delivered)
        let done = try await worker.store.history(parcel.id).filter { $0.kind == .completed || $0.kind == .delivered }
        #expect(done.map(\.stage) == Stage.allCases, "each stage applied exactly once")
        #expect(try await eventually(timeout: .seconds(10)) { (worker.worker.counts.outcomes[.duplicate] ?? 0) >= 1 })
        try await worker.stop()
    }
}

/// Which of a worker's store calls fail (counted from 1, reads and writes apart).
final class StoreFaults: Sendable {
    private let counts = Mutex((reads: 0, writes: 0, failed: 0, fullCounts: 0))
    let failingReads: Set<Int>
    let failingWrites: Set<Int>
    /// `finalChange` reads its lines but counts none, as PostgreSQL's numbering can miss lines.
    let missesFinalLines: Bool

    init(failingReads: Set<Int> = [], failingWrites: Set<Int> = [], missesFinalLines: Bool = false) {
        self.failingReads = failingReads
        self.failingWrites = failingWrites
        self.missesFinalLines = missesFinalLines
    }

    var failed: Int { counts.withLock { $0.failed } }
    /// Calls of `countsByState`.
    var fullCounts: Int { counts.withLock { $0.fullCounts } }
    func countedAll() { counts.withLock { $0.fullCounts += 1 } }

    func check(write: Bool) throws {
        let fail = counts.withLock { counts in
            if write { counts.writes += 1 } else { counts.reads += 1 }
            let fail = write ? failingWrites.contains(counts.writes) : failingReads.contains(counts.reads)
            if fail { counts.failed += 1 }
            return fail
        }
        if fail { throw StatusStoreError("test", "injected failure (disk I/O error)") }
    }
}

/// The real store, with the batch reads and writes a worker makes failing as `faults` says (and its
/// final-line count missing lines, if they say so).
struct FaultyStore: StatusStore {
    let inner: any StatusStore
    let faults: StoreFaults

    init(_ inner: any StatusStore, faults: StoreFaults) {
        self.inner = inner
        self.faults = faults
    }

    func check(_ parcels: [Parcel]) async throws -> [String: ParcelCheck] {
        try faults.check(write: false)
        return try await inner.check(parcels)
    }

    func apply(_ changes: [StatusChange]) async throws -> [TransitionOutcome] {
        try faults.check(write: true)
        return try await inner.apply(changes)
    }

    func submit(_ parcels: [Parcel], at time: Date) async throws -> SubmitOutcome { try await inner.submit(parcels, at: time) }
    func record(_ parcelID: String) async throws -> ParcelRecord? { try await inner.record(parcelID) }
    func history(_ parcelID: String) async throws -> [ParcelEvent] { try await inner.history(parcelID) }
    func countsByState(idPrefix: String?) async throws -> [ParcelStatus.State: Int] {
        faults.countedAll()
        return try await inner.countsByState(idPrefix: idPrefix)
    }
    func histories(_ parcelIDs: [String]) async throws -> [String: [ParcelEvent]] { try await inner.histories(parcelIDs) }
    func finalChange(after cursor: Int64, idPrefix: String?) async throws -> FinalChange {
        let change = try await inner.finalChange(after: cursor, idPrefix: idPrefix)
        return faults.missesFinalLines ? FinalChange(cursor: change.cursor, change: 0) : change
    }
    func snapshot(period: DateInterval, recentSince: Date, latestCompletions: Int?) async throws -> StoreSnapshot {
        try await inner.snapshot(period: period, recentSince: recentSince, latestCompletions: latestCompletions)
    }
    func deliveredCount(in interval: DateInterval) async throws -> Int { try await inner.deliveredCount(in: interval) }
    func holds(limit: Int) async throws -> HoldListing { try await inner.holds(limit: limit) }
    func returnedCount(in interval: DateInterval) async throws -> Int { try await inner.returnedCount(in: interval) }
    func audit(idPrefix: String?) async throws -> StoreAudit { try await inner.audit(idPrefix: idPrefix) }
    func erase(_ parcelIDs: [String], at time: Date) async throws -> [String: Erasure] { try await inner.erase(parcelIDs, at: time) }
    func prune(finishedBefore date: Date, limit: Int) async throws -> Int { try await inner.prune(finishedBefore: date, limit: limit) }
    func close() async { await inner.close() }
}
