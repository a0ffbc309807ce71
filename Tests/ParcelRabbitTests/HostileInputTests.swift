import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import ParcelWorkerRuntime
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// Messages an attacker with publish rights could send, against a worker in this process: each is
/// dead-lettered once, as invalid, and nothing else is disturbed.
@Suite("Hostile messages against the worker")
struct HostileInputTests {
    @Test("a body over the limit is dead-lettered as invalid through a copy without the body; the connections stay up",
          .timeLimit(.minutes(1)))
    func oversizedBody() async throws {
        let fixture = try await WorkerFixture.start()
        let parcels = SubmitFixture.parcels(20)
        try await fixture.submitParcels(Array(parcels.prefix(10)))
        let raw = try await RawPublisher(fixture)
        try await raw.publish(Data(repeating: UInt8(ascii: "0"), count: 1 << 20))
        try await fixture.submitParcels(Array(parcels.suffix(10)))

        #expect(try await fixture.waitUntilFinal(parcels.map(\.id)))
        let letters = try await raw.deadLetters(expecting: 1)
        #expect(letters.count == 1)
        if let letter = letters.first {
            #expect(letter.body.isEmpty, "the dead letter does not carry the body")
            #expect(letter.headers[DeadLetter.Header.kind]?.stringValue == "invalid")
            #expect(letter.headers[DeadLetter.Header.reason]?.stringValue
                == "body of 1048576 bytes is larger than the limit (262144 bytes)")
        }
        #expect(fixture.worker.counts.reconnects == 0)
        try await fixture.submit.checkAllFinalAndAppliedOnce(parcels)
        await raw.close()
        try await fixture.stop()
    }

    @Test("a 200 KB string in any field: dead-lettered once with a short reason, no reconnect, other parcels unaffected",
          .timeLimit(.minutes(2)))
    func hugeFields() async throws {
        let fixture = try await WorkerFixture.start()
        let parcels = SubmitFixture.parcels(40)
        try await fixture.submitParcels(Array(parcels.prefix(20)))
        let raw = try await RawPublisher(fixture)
        // 200,006 bytes in a task's JSON: under the body limit, so the decoder sees each of them.
        let huge = "\u{1b}" + String(repeating: "ü[2J\u{202E}", count: 25_000)
        let template = TaskEnvelope(parcel: SubmitFixture.parcels(1, prefix: "HOSTILE")[0], stage: .collection,
                                    createdAt: Date(), submittedAt: Date(),
                                    payload: StagePayload(collectionPoint: "depot-north", box: .envelope))
        let paths: [[String]] = [
            ["task_id"], ["parcel_id"], ["stage"], ["attempt"], ["created_at"], ["submitted_at"], ["schema_version"],
            ["parcel", "id"], ["parcel", "sender", "name"], ["parcel", "sender", "relation"], ["parcel", "recipient", "name"],
            ["parcel", "recipient", "facility"], ["parcel", "origin"], ["parcel", "weight_grams"],
            ["parcel", "contents", "letters"], ["payload", "collection_point"], ["payload", "box"], [huge],
        ]
        for path in paths {
            // The last path is a field name of 200 KB, holding a short value.
            let body = try Self.replacing(path, in: template.encoded(), with: path == [huge] ? "1" : huge)
            #expect(body.count < AMQPLimits.defaultMaxBodySize, "\(path.map { $0.prefix(20) }): \(body.count) bytes")
            try await raw.publish(body)
        }
        try await fixture.submitParcels(Array(parcels.suffix(20)))

        #expect(try await fixture.waitUntilFinal(parcels.map(\.id)))
        let letters = try await raw.deadLetters(expecting: paths.count)
        #expect(letters.count == paths.count, "each hostile message dead-lettered once")
        for letter in letters {
            let reason = letter.headers[DeadLetter.Header.reason]?.stringValue ?? ""
            #expect(letter.headers[DeadLetter.Header.kind]?.stringValue == "invalid", "\(reason.prefix(200))")
            #expect(!reason.isEmpty && reason.utf8.count <= Echo.maxReasonBytes, "\(reason.utf8.count) bytes")
            #expect(reason.utf8.count < 2 * 1024, "no echoed value is longer than its cut")
        }
        #expect(fixture.worker.counts.reconnects == 0, "the worker's connections never dropped")
        #expect(fixture.worker.counts.requeued == 0)
        try await fixture.submit.checkAllFinalAndAppliedOnce(parcels)
        await raw.close()
        try await fixture.stop()
    }

    @Test("headers deeper than 16 levels or with over 1,000 entries: dead-lettered as invalid; the worker goes on",
          .timeLimit(.minutes(1)))
    func hostileHeaders() async throws {
        let fixture = try await WorkerFixture.start()
        let parcel = SubmitFixture.parcels(1)[0]
        let raw = try await RawPublisher(fixture)
        var deep: AMQPFieldValue = "bottom"
        for _ in 0..<2000 { deep = .table(["n": deep]) }
        let many = AMQPTable(uniqueKeysWithValues: (0..<1001).map { ("h\($0)", AMQPFieldValue.int32(Int32($0))) })
        let body = TaskEnvelope(parcel: parcel, stage: .collection, createdAt: Date(), submittedAt: Date()).encoded()
        try await raw.publish(body, headers: ["deep": deep])
        try await raw.publish(body, headers: many)
        try await fixture.submitParcels([parcel])

        #expect(try await fixture.waitUntilFinal([parcel.id]))
        let reasons = try await raw.deadLetters(expecting: 2).map { $0.headers[DeadLetter.Header.reason]?.stringValue ?? "" }
        #expect(reasons.sorted() == ["headers are nested deeper than 16 levels", "headers hold more than 1000 entries"])
        #expect(try await fixture.store.record(parcel.id)?.status == .delivered)
        #expect(fixture.worker.counts.reconnects == 0)
        await raw.close()
        try await fixture.stop()
    }

    @Test("an x-delivery-count on a first delivery is not trusted: the task runs instead of being quarantined",
          .timeLimit(.minutes(1)))
    func forgedDeliveryCount() async throws {
        let fixture = try await WorkerFixture.start()
        let parcel = SubmitFixture.parcels(1)[0]
        _ = try await fixture.store.submit([parcel], at: Date())
        let raw = try await RawPublisher(fixture)
        let task = TaskEnvelope(parcel: parcel, stage: .collection, createdAt: Date(), submittedAt: Date())
        try await raw.publish(task.encoded(), headers: ["x-delivery-count": .int64(99)])

        #expect(try await fixture.waitUntilFinal([parcel.id]))
        #expect(try await fixture.store.record(parcel.id)?.status == .delivered)
        #expect(try await raw.deadLetters(expecting: 0).isEmpty)
        // The clamp: a count out of range never reaches the arithmetic.
        func returned(_ redelivered: Bool, _ header: AMQPFieldValue) -> Int? {
            StageWorker.clamped(AMQPDelivery.returnedCount(redelivered: redelivered, header: header), limit: 5)
        }
        #expect(returned(true, .int64(.max)) == 5)
        #expect(returned(true, .int64(-7)) == 0)
        #expect(returned(true, .uint64(.max)) == nil)
        #expect(returned(false, .int64(4)) == nil)
        await raw.close()
        try await fixture.stop()
    }

    @Test("a task whose parcel differs from the store's copy is dead-lettered as invalid and changes nothing",
          .timeLimit(.minutes(1)))
    func forgedParcel() async throws {
        let fixture = try await WorkerFixture.start()
        let parcel = SubmitFixture.parcels(1)[0]
        _ = try await fixture.store.submit([parcel], at: Date())
        let raw = try await RawPublisher(fixture)
        var elsewhere = parcel
        elsewhere.recipient.facility = "Somewhere the family never wrote"
        var more = parcel
        more.contents.drawings += 3
        for forged in [elsewhere, more] {
            try await raw.publish(TaskEnvelope(parcel: forged, stage: .collection, createdAt: Date(), submittedAt: Date()).encoded())
        }
        let letters = try await raw.deadLetters(expecting: 2)
        #expect(letters.count == 2)
        for letter in letters {
            #expect(letter.headers[DeadLetter.Header.kind]?.stringValue == "invalid")
            #expect(letter.headers[DeadLetter.Header.reason]?.stringValue?.contains("differs from the one submitted") == true)
        }
        let record = try await fixture.store.record(parcel.id)
        #expect(record?.status == .submitted && record?.parcel == parcel, "the store is unchanged")
        #expect(try await fixture.store.history(parcel.id).map(\.kind) == [.submitted])
        await raw.close()
        try await fixture.stop()
    }

    /// `template` (a task's JSON) with the value at `path` replaced by `value`; a one-element path
    /// that names no field adds it.
    static func replacing(_ path: [String], in template: Data, with value: String) throws -> Data {
        func replace(_ object: Any, _ path: ArraySlice<String>) -> Any {
            guard let key = path.first, var dictionary = object as? [String: Any] else { return value }
            dictionary[key] = path.count == 1 ? value : replace(dictionary[key] ?? [:], path.dropFirst())
            return dictionary
        }
        return try JSONSerialization.data(withJSONObject: replace(try JSONSerialization.jsonObject(with: template), path[...]))
    }
}

/// A plain AMQP client publishing straight to a fixture's stage queues, as anyone with publish rights could.
struct RawPublisher {
    let connection: AMQPConnection
    let channel: AMQPChannel
    let topology: ParcelTopology

    init(_ fixture: WorkerFixture) async throws {
        connection = try await Broker.connect("raw publisher")
        channel = try await connection.openChannel()
        try await channel.enableConfirms()
        topology = fixture.submit.topology
    }

    func publish(_ body: Data, headers: AMQPTable? = nil, stage: Stage = .collection) async throws {
        try await channel.publish(AMQPOutboundMessage(
            exchange: topology.tasksExchange, routingKey: stage.rawValue, body: body,
            properties: AMQPProperties(contentType: "application/json", headers: headers, deliveryMode: 2)))
    }

    /// The dead letters, once `count` have arrived (or 10 s passed), and a moment more for any extra.
    func deadLetters(expecting count: Int) async throws -> [AMQPDelivery] {
        _ = try await eventually(timeout: .seconds(10)) {
            try await channel.queueState(topology.deadQueue).messageCount >= count
        }
        try await Task.sleep(for: .milliseconds(300))
        var letters: [AMQPDelivery] = []
        while let letter = try await channel.get(queue: topology.deadQueue, autoAck: true) { letters.append(letter) }
        return letters
    }

    func close() async { await connection.close() }
}
