import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import ParcelTestSupport
import ParcelStoreSQLite
import Testing

/// A namespace of its own on the shared broker and a fresh SQLite file, removed afterwards.
struct SubmitFixture {
    var topology = ParcelTopology(namespace: "test.submit.\(UInt32.random(in: 0...UInt32.max))")
    /// The broker the topology is declared on and removed from.
    var url = Broker.url
    let directory: URL
    var storePath: String { directory.appendingPathComponent("status.db").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("parcelflow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func declare() async throws {
        let connection = try await AMQPConnection.connect(AMQPConfiguration(url: url, connectionName: "test declare"))
        try await topology.declare(on: try await connection.openChannel())
        await connection.close()
    }

    func collectionDepth() async throws -> Int {
        let connection = try await Broker.connect()
        defer { Task { await connection.close() } }
        return try await connection.openChannel().queueState(topology.stageQueue(.collection)).messageCount
    }

    func tearDown() async throws {
        let connection = try await AMQPConnection.connect(AMQPConfiguration(url: url, connectionName: "test tear-down"))
        try await topology.delete(on: try await connection.openChannel())
        await connection.close()
        try? FileManager.default.removeItem(at: directory)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func parcels(_ count: Int, prefix: String = "P") -> [Parcel] {
        let relations = Relation.allCases
        return (0..<count).map { i in
            Parcel(id: "\(prefix)-\(i)", sender: .init(name: "Sender \(i)", relation: relations[i % relations.count]),
                   recipient: .init(name: "Recipient \(i)", facility: "Base \(i % 7)"),
                   contents: .init(letters: i % 3, drawings: 1 + i % 2), weightGrams: 50 + i % 400, origin: "depot-\(i % 4)")
        }
    }

    static func csv(_ parcels: [Parcel]) -> String {
        ParcelParsing.csvColumns.joined(separator: ",") + "\n" + parcels.map { p in
            [p.id, p.sender.name, p.sender.relation.rawValue, p.recipient.name, p.recipient.facility,
             "\(p.contents.letters)", "\(p.contents.drawings)", "\(p.weightGrams)", p.origin].joined(separator: ",")
        }.joined(separator: "\n") + "\n"
    }
}

@Suite("Submitting parcels")
struct SubmitTests {
    @Test("1,000 parcels land as 1,000 tasks and 1,000 queued parcels; a re-run adds nothing", .timeLimit(.minutes(1)))
    func thousandParcels() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        try await channel.enableConfirms()
        // Told as each chunk goes to the broker (the load test's clock starts at the first).
        let publishes = Events()
        let submitter = ParcelSubmitter(publisher: channel, store: store, topology: fixture.topology,
                                        publishing: { publishes.append("chunk") })
        let parcels = SubmitFixture.parcels(1_000)

        let report = try await submitter.submit(parcels)
        #expect(report.queued.count == 1_000 && report.failed.isEmpty && report.alreadySubmitted.isEmpty)
        #expect(publishes.list.count == 4)  // chunks of 250
        #expect(try await fixture.collectionDepth() == 1_000)
        #expect(try await store.countsByState() == [.queued: 1_000])
        let first = try #require(try await store.record("P-0"))
        #expect(first.status == .queued(.collection))
        #expect(try await store.history("P-0").map(\.kind) == [.submitted, .queued])

        let again = try await submitter.submit(parcels)
        #expect(again.queued.isEmpty)
        #expect(again.alreadySubmitted.count == 1_000)
        #expect(publishes.list.count == 4, "nothing to publish, so no publish begins")
        #expect(try await fixture.collectionDepth() == 1_000)

        // What is on the queue is what the schema describes: a valid collection task per parcel.
        let delivery = try #require(try await channel.get(queue: fixture.topology.stageQueue(.collection), autoAck: true))
        let task = try TaskEnvelope.decode(delivery.body).get()
        #expect(task.stage == .collection && task.attempt == 1)
        #expect(delivery.properties.messageID == task.taskID)
        #expect(delivery.properties.correlationID == task.parcelID)
        #expect(delivery.properties.deliveryMode == 2)
        await connection.close()
        await store.close()
        try await fixture.tearDown()
    }

    @Test("a parcel recorded but never confirmed is published by the next run, once")
    func interruptedRunIsFinished() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        let parcels = SubmitFixture.parcels(3)
        // As if a run stopped after recording them and before the broker confirmed anything.
        _ = try await store.submit(parcels, at: Date())
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        try await channel.enableConfirms()
        let report = try await ParcelSubmitter(publisher: channel, store: store, topology: fixture.topology).submit(parcels)
        #expect(report.queued == ["P-0", "P-1", "P-2"])
        #expect(try await fixture.collectionDepth() == 3)
        #expect(try await store.countsByState() == [.queued: 3])
        await connection.close()
        await store.close()
        try await fixture.tearDown()
    }
}
