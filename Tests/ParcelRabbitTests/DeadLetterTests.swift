import AMQP
import Foundation
import ParcelCore
import ParcelWorkerRuntime
import ParcelRabbit
import ParcelStoreSQLite
import ParcelTestSupport
import Synchronization
import Testing

/// Packaging that fails while the machine is jammed, and works once someone fixes it.
final class JammedPackaging: StageHandler {
    private let jammed = Mutex(true)
    private let working = SimulatedStageHandler(stage: .packaging, seed: 7)

    func fix() { jammed.withLock { $0 = false } }

    func handle(_ task: TaskEnvelope, context: HandlerContext) async throws(TaskFailure) -> StageOutcome {
        if jammed.withLock({ $0 }) { throw .transient("the packing machine is jammed") }
        return try await working.handle(task, context: context)
    }
}

@Suite("Dead letters: parcelctl dlq list, show, replay, purge", .serialized)
struct DeadLetterTests {
    func deadCount(_ fixture: SubmitFixture) async throws -> Int {
        let connection = try await Broker.connect()
        let count = try await DeadLetterQueue(connection: connection, topology: fixture.topology).count()
        await connection.close()
        return count
    }

    /// The letters a browse put back are counted again (the broker takes them back asynchronously).
    func expectDeadCount(_ fixture: SubmitFixture, _ expected: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let settled = try await eventually(timeout: .seconds(10)) { try await deadCount(fixture) == expected }
        let count = try await deadCount(fixture)
        #expect(settled, "the dead-letter queue holds \(count), expected \(expected)", sourceLocation: sourceLocation)
    }

    func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    @Test("attempts exhausted → listed with stage, attempts and reason → replayed → delivered, the history shows it",
          .timeLimit(.minutes(1)))
    func exhaustedListedReplayedDelivered() async throws {
        let packaging = JammedPackaging()
        let fixture = try await WorkerFixture.start(maxAttempts: 2, handlers: [.packaging: packaging])
        let cli = fixture.submit.cli()
        let parcel = SubmitFixture.parcels(1)[0]
        try await fixture.submitParcels([parcel])
        #expect(try await fixture.waitUntilFinal([parcel.id]))
        #expect(try await fixture.store.record(parcel.id)?.status.state == .deadLettered)
        try await expectDeadCount(fixture.submit, 1)

        // list: a table for people, JSON for scripts; neither removes anything.
        let table = try await cli.run(["dlq", "list"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("1 letter in \(fixture.submit.topology.deadQueue):"), "\(table.stdout)")
        let row = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix(parcel.id + " ") })
        for expected in ["packaging", " 2 ", "transient", "gave up after 2 attempts: the packing machine is jammed"] {
            #expect(row.contains(expected), "missing \(expected) in: \(row)")
        }
        try await expectDeadCount(fixture.submit, 1)
        let listed = try await cli.run(["dlq", "list", "--json"])
        let listing = try #require(try json(listed.stdout) as? [String: Any])
        #expect(listing["count"] as? Int == 1)
        let letter = try #require((listing["letters"] as? [[String: Any]])?.first)
        #expect(letter["parcel_id"] as? String == parcel.id)
        #expect(letter["task_id"] as? String == "\(parcel.id):packaging")
        #expect(letter["stage"] as? String == "packaging")
        #expect(letter["attempts"] as? Int == 2)
        #expect(letter["kind"] as? String == "transient")
        #expect(letter["from_broker"] as? Bool == false)
        #expect(letter["replayable"] as? Bool == true)
        #expect((letter["at"] as? String)?.hasPrefix("20") == true)
        try await expectDeadCount(fixture.submit, 1)

        // show: the whole letter, by parcel id, and by task id.
        let shown = try await cli.run(["dlq", "show", parcel.id])
        #expect(shown.status == 0, "\(shown.stderr)")
        for expected in ["Letter for parcel \(parcel.id), task \(parcel.id):packaging", "x-parcelflow-reason:",
                         "\"stage\": \"packaging\"", "replay     possible"] {
            #expect(shown.stdout.contains(expected), "missing \(expected) in:\n\(shown.stdout)")
        }
        let whole = try await cli.run(["dlq", "show", "\(parcel.id):packaging", "--json"])
        let letters = try #require(try json(whole.stdout) as? [[String: Any]])
        #expect(letters.count == 1)
        #expect((letters.first?["headers"] as? [String: Any])?[DeadLetter.Header.attempts] as? Int == 2)
        #expect((letters.first?["task"] as? [String: Any])?["parcel_id"] as? String == parcel.id)
        #expect(try await cli.run(["dlq", "show", "P-nobody"]).status != 0)
        try await expectDeadCount(fixture.submit, 1)

        // Someone fixes the machine and replays the letter: the parcel continues at packaging.
        packaging.fix()
        let replay = try await cli.run(["dlq", "replay", parcel.id])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains("Replayed \(parcel.id): queued again for packaging."), "\(replay.stdout)")
        #expect(try await eventually(timeout: .seconds(30)) { try await fixture.store.record(parcel.id)?.status == .delivered })
        try await expectDeadCount(fixture.submit, 0)

        let history = try await fixture.store.history(parcel.id)
        let died = try #require(history.firstIndex { $0.kind == .deadLettered })
        let after = Array(history[(died + 1)...])
        #expect(after.first?.kind == .queued && after.first?.stage == .packaging)
        #expect(after.first?.detail == ParcelEvent.replayedDetail)
        #expect(after.first?.worker?.hasPrefix("parcelctl ") == true)
        let next = try #require(after.dropFirst().first)
        #expect(next.kind == .started && next.stage == .packaging && next.attempt == 1)
        #expect(history.filter { $0.kind == .completed || $0.kind == .delivered }.map(\.stage) == Stage.allCases)
        let status = try await cli.run(["status", parcel.id])
        #expect(status.stdout.contains("replayed from the dead-letter queue"), "\(status.stdout)")
        try await fixture.stop()
    }

    @Test("a letter that is not a valid task is refused by replay and stays; purge asks for --yes, then empties the queue",
          .timeLimit(.minutes(1)))
    func invalidLetterRefusedThenPurged() async throws {
        let fixture = try await WorkerFixture.start()
        let topology = fixture.submit.topology
        let cli = fixture.submit.cli()
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        try await channel.enableConfirms()
        for body in ["{this is not json", "neither is this"] {
            try await channel.publish(AMQPOutboundMessage(exchange: topology.tasksExchange, routingKey: "collection",
                                                          body: Data(body.utf8), properties: AMQPProperties(deliveryMode: 2)))
        }
        await connection.close()
        try await expectDeadCount(fixture.submit, 2)

        let limited = try await cli.run(["dlq", "list", "--limit", "1"])
        #expect(limited.stdout.contains("2 letters in \(topology.deadQueue) (showing the first 1):"), "\(limited.stdout)")
        #expect(limited.stdout.contains("invalid") && limited.stdout.contains("the body is not valid JSON"))
        try await expectDeadCount(fixture.submit, 2)

        let replay = try await cli.run(["dlq", "replay", "--all"])
        #expect(replay.status != 0)
        #expect(replay.stderr.contains("not a valid task: the body is not valid JSON; purge it"), "\(replay.stderr)")
        #expect(replay.stderr.contains("2 letters not replayed (still in the queue)"), "\(replay.stderr)")
        try await expectDeadCount(fixture.submit, 2)

        let missing = try await cli.run(["dlq", "replay", "P-nobody"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no letter has the parcel or task id 'P-nobody'"), "\(missing.stderr)")
        let neither = try await cli.run(["dlq", "replay"])
        #expect(neither.status != 0 && neither.stderr.contains("or --all"))

        let refused = try await cli.run(["dlq", "purge"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("this would delete 2 letters in \(topology.deadQueue) for good; add --yes"),
                "\(refused.stderr)")
        try await expectDeadCount(fixture.submit, 2)

        let purged = try await cli.run(["dlq", "purge", "--yes"])
        #expect(purged.status == 0, "\(purged.stderr)")
        #expect(purged.stdout.contains("Purged 2 letters from \(topology.deadQueue)."), "\(purged.stdout)")
        #expect(try await deadCount(fixture.submit) == 0)
        let empty = try await cli.run(["dlq", "list"])
        #expect(empty.stdout.contains("is empty"))
        try await fixture.stop()
    }

    @Test("a poison message the broker dead-lettered is listed as poison at its stage, and replays", .timeLimit(.minutes(1)))
    func poisonFromTheBroker() async throws {
        var fixture = try SubmitFixture()
        fixture.topology.deliveryLimit = 1
        try await fixture.declare()
        let parcel = SubmitFixture.parcels(1)[0]
        try await fixture.submitWithLibrary([parcel])
        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        // As a worker would before it crashed, twice: the broker then moves the task itself.
        _ = try await store.apply(.started(.collection, attempt: 1), to: parcel.id)
        let connection = try await Broker.connect()
        let consumer = try await connection.openChannel().consume(queue: fixture.topology.stageQueue(.collection))
        var deliveries = 0
        for try await delivery in consumer {
            deliveries += 1
            try delivery.nack(requeue: true)
            if deliveries == 2 { break }
        }
        try await consumer.cancel()
        try await expectDeadCount(fixture, 1)

        let dlq = DeadLetterQueue(connection: connection, topology: fixture.topology)
        let listing = try await dlq.list(limit: 10)
        let letter = try #require(listing.entries.first)
        #expect(listing.count == 1)
        #expect(letter.kind == .poison && letter.fromBroker)
        #expect(letter.reason == "delivery limit reached")
        #expect(letter.stage == .collection && letter.attempts == 1)
        #expect(letter.parcelID == parcel.id && letter.taskID == "\(parcel.id):collection")
        try await expectDeadCount(fixture, 1)

        let report = try await dlq.replay(.ids([parcel.id]), store: store, replayedBy: "test")
        #expect(report.succeeded && report.replayed.count == 1, "\(report.refused.map(\.reason))")
        #expect(try await store.record(parcel.id)?.status == .queued(.collection))
        let kinds = try await store.history(parcel.id).map(\.kind)
        #expect(kinds == [.submitted, .queued, .started, .deadLettered, .queued])
        #expect(try await store.history(parcel.id).last(where: { $0.kind == .deadLettered })?.detail
                == "poison: delivery limit reached")
        try await expectDeadCount(fixture, 0)
        #expect(try await eventually(timeout: .seconds(10)) { try await fixture.collectionDepth() == 1 })
        let requeued = try #require(try await connection.openChannel().get(queue: fixture.topology.stageQueue(.collection),
                                                                             autoAck: true))
        let task = try TaskEnvelope.decode(requeued.body).get()
        #expect(task.attempt == 1 && task.stage == .collection && requeued.properties.messageID == task.taskID)
        await connection.close()
        await store.close()
        try await fixture.tearDown()
    }

    @Test("a broker letter is read from its latest x-death entry, not an older expiry from a retry queue")
    func latestDeathWins() {
        let topology = ParcelTopology(namespace: "ns")
        let now = Date()
        let task = TaskEnvelope(parcel: SubmitFixture.parcels(1)[0], stage: .inspection, attempt: 3, createdAt: now,
                                submittedAt: now, payload: StagePayload(collectedAt: now, collectionPoint: "depot",
                                                                         packedAt: now, box: .envelope))
        let headers: AMQPTable = [
            "x-death": .array([
                .table(["queue": "ns.inspection", "reason": "delivery_limit", "count": 1, "time": .timestamp(1_796_000_000)]),
                .table(["queue": "ns.retry.inspection.5s", "reason": "expired", "count": 2]),
            ]),
            "x-first-death-reason": "expired", "x-first-death-queue": "ns.retry.inspection.5s",
        ]
        let entry = DeadLetterEntry(body: task.encoded(), properties: AMQPProperties(headers: headers, timestamp: 1),
                                    routingKey: "inspection", topology: topology)
        #expect(entry.replayable)
        #expect(entry.kind == .poison && entry.reason == "delivery limit reached")
        #expect(entry.stage == .inspection && entry.attempts == 3 && entry.parcelID == task.parcelID)
        #expect(entry.at == Date(timeIntervalSince1970: 1_796_000_000))

        let unknown = DeadLetterEntry(body: Data("x".utf8), properties: AMQPProperties(), routingKey: "", topology: topology)
        #expect(unknown.kind == .unknown && unknown.stage == nil && !unknown.replayable)
    }
}
