import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// `parcelctl erase`, `prune` and `dlq purge --older-than`, against the real broker and a real store.
@Suite("Retention and erasure", .serialized)
struct RetentionTests {
    @Test("erase: a dead-lettered parcel's names leave the store and its dead letter; all or nothing; its letter can no longer be replayed",
          .timeLimit(.minutes(2)))
    func eraseFromStoreAndDeadLetters() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let worker = try WorkerProcess(fixture, arguments: ["--stage-time", "0ms", "--permanent-rate", "1"], name: "erase")
        let parcels = SubmitFixture.parcels(3)
        try await fixture.submitWithLibrary(parcels)
        #expect(try await eventually(timeout: .seconds(30)) { try await fixture.statesCount() == [.deadLettered: 3] })
        await worker.stop()
        try await fixture.submitWithLibrary(SubmitFixture.parcels(1, prefix: "Q")) // queued: no worker runs now
        let cli = fixture.cli()

        // Any id that cannot be erased: nothing is.
        let refused = try await cli.run(["erase", "P-0", "Q-0", "P-404"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("Q-0: still on its way (queued for collection)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("P-404: no parcel has this id"))
        #expect(refused.stderr.contains("nothing was erased: 2 parcels of 3 cannot be"))
        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        #expect(try await store.record("P-0")?.erasedAt == nil)

        let erased = try await cli.run(["erase", "P-0", "P-1"])
        #expect(erased.status == 0, "\(erased.stderr)")
        #expect(erased.stdout.contains("Erased the personal data of 2 parcels in the status store."), "\(erased.stdout)")
        #expect(erased.stdout.contains("Erased 2 dead letters of these parcels"), "\(erased.stdout)")
        for id in ["P-0", "P-1"] {
            let record = try #require(try await store.record(id))
            #expect(record.parcel == nil && record.erasedAt != nil && record.status.state == .deadLettered)
            #expect(try await store.history(id).allSatisfy { $0.detail == nil || $0.detail == Erasure.erasedText })
        }
        #expect(try await store.record("P-2")?.parcel == parcels[2], "a parcel not named keeps everything")
        #expect(try await fixture.statesCount() == [.deadLettered: 3, .queued: 1], "counts stay true")
        await store.close()

        // The dead letters: the erased ones hold no task and no reason, the other one is whole.
        let shown = try await cli.run(["dlq", "show", "P-0", "--json"])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(!shown.stdout.contains("Sender 0") && !shown.stdout.contains("Recipient 0") && !shown.stdout.contains("Base 0"),
                "\(shown.stdout)")
        #expect(shown.stdout.contains(Erasure.erasedText))
        let whole = try await cli.run(["dlq", "show", "P-2", "--json"])
        #expect(whole.stdout.contains("Recipient 2"), "\(whole.stdout)")
        let status = try await cli.run(["status", "P-0"])
        #expect(status.stdout.contains("personal data erased") && !status.stdout.contains("Sender 0"), "\(status.stdout)")

        // Again: nothing more to do, nothing lost; and an erased letter cannot be replayed.
        let again = try await cli.run(["erase", "P-0"])
        #expect(again.status == 0)
        #expect(again.stdout.contains("(1 had been erased before)") && again.stdout.contains("Erased 0 dead letters"), "\(again.stdout)")
        let replay = try await cli.run(["dlq", "replay", "P-1"])
        #expect(replay.status != 0)
        #expect(replay.stderr.contains("its personal data was erased"), "\(replay.stderr)")
        let connection = try await Broker.connect()
        #expect(try await connection.openChannel().queueState(fixture.topology.deadQueue).messageCount == 3)
        await connection.close()
        try await fixture.tearDown()
    }

    @Test("dlq purge --older-than removes only letters older than the age, and only with --yes", .timeLimit(.minutes(1)))
    func deadLettersMaximumAge() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        try await channel.enableConfirms()
        let now = UInt64(Date().timeIntervalSince1970)
        for (id, age) in [("OLD-1", UInt64(40 * 86_400)), ("OLD-2", UInt64(31 * 86_400)), ("NEW-1", UInt64(29 * 86_400))] {
            let task = TaskEnvelope(parcel: SubmitFixture.parcels(1, prefix: id)[0], stage: .collection, attempt: 1,
                                    createdAt: Date(), submittedAt: Date())
            var properties = AMQPProperties.persistentJSON(correlationID: task.parcelID, headers: [
                DeadLetter.Header.kind: .string("permanent"), DeadLetter.Header.reason: .string("test"),
                DeadLetter.Header.stage: .string("collection"), DeadLetter.Header.attempts: .int64(1),
            ])
            properties.timestamp = now - age
            try await channel.publish(AMQPOutboundMessage(exchange: fixture.topology.deadExchange, routingKey: "collection",
                                                          body: task.encoded(), properties: properties))
        }
        // One with no time on it: its age is unknown, so it stays.
        try await channel.publish(AMQPOutboundMessage(exchange: fixture.topology.deadExchange, routingKey: "", body: Data("{}".utf8)))
        let cli = fixture.cli()
        let asked = try await cli.run(["dlq", "purge", "--older-than", "30d"])
        #expect(asked.status != 0 && asked.stderr.contains("add --yes"), "\(asked.stderr)")
        #expect(try await channel.queueState(fixture.topology.deadQueue).messageCount == 4)
        let bad = try await cli.run(["dlq", "purge", "--older-than", "30 days", "--yes"])
        #expect(bad.status != 0 && bad.stderr.contains("--older-than: expected a number of days"), "\(bad.stderr)")

        let purged = try await cli.run(["dlq", "purge", "--older-than", "30d", "--yes"])
        #expect(purged.status == 0, "\(purged.stderr)")
        #expect(purged.stdout.contains("Purged 2 letters written before"), "\(purged.stdout)")
        #expect(purged.stdout.contains("Kept 1 letter with no time on them."))
        let listed = try await cli.run(["dlq", "list", "--json"])
        #expect(listed.stdout.contains("NEW-1-0") && !listed.stdout.contains("OLD-"), "\(listed.stdout)")
        // The letters kept were handed back to the queue by a connection now closed: the broker puts
        // them back in a moment, not necessarily before the command exits.
        #expect(try await eventually(timeout: .seconds(5)) {
            try await channel.queueState(fixture.topology.deadQueue).messageCount == 2
        })
        await connection.close()
        try await fixture.tearDown()
    }

    @Test("prune removes parcels finished before the date, with their history; parcels on their way stay", .timeLimit(.minutes(1)))
    func prune() async throws {
        let fixture = try SubmitFixture()
        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        let parcels = SubmitFixture.parcels(5)
        _ = try await store.submit(parcels, at: Date(timeIntervalSince1970: 1_790_000_000))
        let journey: [Transition] = [.queued(.collection)] + Stage.allCases.flatMap { [.started($0, attempt: 1), .completed($0)] }
        for parcel in parcels.prefix(3) {
            _ = try await store.apply(journey.map { StatusChange(parcel.id, $0, at: Date(timeIntervalSince1970: 1_790_000_100)) })
        }
        _ = try await store.apply(.queued(.collection), to: "P-3", at: Date(timeIntervalSince1970: 1_790_000_100))
        await store.close()
        let cli = fixture.cli()

        let bad = try await cli.run(["prune", "--finished-before", "last week"])
        #expect(bad.status != 0 && bad.stderr.contains("--finished-before: expected a date such as 2026-11-01"), "\(bad.stderr)")
        let pruned = try await cli.run(["prune", "--finished-before", "2026-10-01", "--batch-size", "2"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(pruned.stdout.contains("Removed 3 parcels that finished before 2026-10-01T00:00:00.000Z, with their history."),
                "\(pruned.stdout)")
        #expect(try await fixture.statesCount() == [.submitted: 1, .queued: 1])
        let gone = try await cli.run(["status", "P-0"])
        #expect(gone.status != 0 && gone.stderr.contains("no parcel has the id 'P-0'"))
        try? FileManager.default.removeItem(at: fixture.directory)
    }
}
