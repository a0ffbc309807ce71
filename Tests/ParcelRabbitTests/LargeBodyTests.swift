import AMQP
import Foundation
import ParcelCore
import ParcelLoadTest
import ParcelRabbit
import ParcelTestSupport
import Testing

/// Bodies far over the limit, against a `parcel-worker` process: never assembled, so its memory stays
/// flat. The project's node refuses messages over its `max_message_size`; for this test the node's
/// limit is raised for a moment (new channels read it), and put back after.
@Suite("Bodies far over the limit", .serialized)
struct LargeBodyTests {
    @Test("20, 50 and 100 MB bodies: each dead-lettered as invalid without its body; the worker's peak RSS grows by under 8 MB",
          .timeLimit(.minutes(3)))
    func workerMemoryStaysFlat() async throws {
        let node = try #require(Broker.environment["PARCELFLOW_BROKER_NODE"],
                                "deploy/local/test.sh exports the node name of the broker it runs")
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let worker = try WorkerProcess(fixture, arguments: ["--stage-time", "0ms"], name: "large-bodies")
        let parcels = SubmitFixture.parcels(20)
        try await fixture.submitWithLibrary(parcels)
        #expect(try await eventually(timeout: .seconds(30)) { try await fixture.statesCount() == [.delivered: 20] })
        let pid = worker.process.processIdentifier
        let before = try #require(ProcessStats.of(pid)).peakResidentBytes

        let previous = try await Self.maxMessageSize(node)
        try await Self.setMaxMessageSize(node, 128 << 20)
        var peaks: [Int: Int] = [:]
        do {
            let connection = try await Broker.connect()
            let channel = try await connection.openChannel()
            try await channel.enableConfirms()
            for (index, megabytes) in [20, 50, 100].enumerated() {
                try await channel.publish(AMQPOutboundMessage(
                    exchange: fixture.topology.tasksExchange, routingKey: "collection",
                    body: Data(count: megabytes << 20), properties: AMQPProperties(deliveryMode: 2)))
                #expect(try await eventually(timeout: .seconds(60)) {
                    try await channel.queueState(fixture.topology.deadQueue).messageCount == index + 1
                }, "\(megabytes) MB dead-lettered")
                peaks[megabytes] = ProcessStats.of(pid)?.peakResidentBytes
            }
            var letters: [AMQPDelivery] = []
            while let letter = try await channel.get(queue: fixture.topology.deadQueue, autoAck: true) { letters.append(letter) }
            #expect(letters.map { $0.headers[DeadLetter.Header.reason]?.stringValue ?? "" } == [20, 50, 100].map {
                "body of \($0 << 20) bytes is larger than the limit (262144 bytes)"
            })
            #expect(letters.allSatisfy { $0.body.isEmpty && $0.headers[DeadLetter.Header.kind]?.stringValue == "invalid" })
            await connection.close()
        } catch {
            Issue.record(error)
        }
        try await Self.setMaxMessageSize(node, previous)

        let megabytes = { (bytes: Int?) in String(format: "%.1f MB", Double(bytes ?? 0) / 1_048_576) }
        print("worker peak RSS: before \(megabytes(before)), after 20 MB \(megabytes(peaks[20])), "
            + "50 MB \(megabytes(peaks[50])), 100 MB \(megabytes(peaks[100]))")
        // What a body costs is the growth over the worker's own peak before (a debug build with both
        // stores' libraries starts near 40 MB): a 20 MB body held even once would show as 20 MB.
        for (size, peak) in peaks {
            #expect(peak - before < 8 << 20, "after a \(size) MB body: \(megabytes(peak)), from \(megabytes(before))")
        }
        #expect(worker.output.contains("lost the broker") == false, "the worker kept its connections")
        await worker.stop()
        try await fixture.tearDown()
    }

    @Test("the project's node itself refuses a message over its max_message_size (4 MiB) at publish", .timeLimit(.minutes(1)))
    func nodeRefusesHugeMessages() async throws {
        let node = try #require(Broker.environment["PARCELFLOW_BROKER_NODE"],
                                "deploy/local/test.sh exports the node name of the broker it runs")
        #expect(try await Self.maxMessageSize(node) == 4 << 20, "deploy/local/lib.sh writes max_message_size into the node's config")
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        let queue = "parcelflow-test.max-size.\(UInt32.random(in: 0...UInt32.max))"
        try await channel.declareQueue(queue, options: AMQPQueueOptions(durable: false, autoDelete: false))
        try await channel.enableConfirms()
        try await channel.publish(AMQPOutboundMessage(routingKey: queue, body: Data(count: 4 << 20)))
        await #expect(throws: AMQPError.self) {
            try await channel.publish(AMQPOutboundMessage(routingKey: queue, body: Data(count: (4 << 20) + 1)))
        }
        #expect(channel.closedReason?.message.contains("larger than configured max size") == true,
                "\(String(describing: channel.closedReason))")
        let other = try await connection.openChannel()
        #expect(try await other.queueState(queue).messageCount == 1, "the connection carries on; only the 4 MiB message is there")
        _ = try await other.deleteQueue(queue)
        await connection.close()
    }

    private static let rabbitmqctl = URL(fileURLWithPath: "/usr/lib/rabbitmq/bin/rabbitmqctl")

    /// The node's `max_message_size` now.
    static func maxMessageSize(_ node: String) async throws -> Int {
        let result = try await runChild(rabbitmqctl, ["-q", "-n", node, "eval", "application:get_env(rabbit, max_message_size)."])
        // {ok,134217728}
        let digits = result.output.filter(\.isNumber)
        return try #require(Int(digits), "rabbitmqctl eval: \(result.output)\(result.errors)")
    }

    static func setMaxMessageSize(_ node: String, _ bytes: Int) async throws {
        let result = try await runChild(rabbitmqctl, ["-q", "-n", node, "eval",
                                                      "application:set_env(rabbit, max_message_size, \(bytes))."])
        #expect(result.status == 0, "\(result.output)\(result.errors)")
    }
}

@Suite("The worker's numbers from the command line")
struct WorkerFlagTests {
    @Test("a flag out of range is refused by name before it becomes a duration or a count (no trap)",
          arguments: [["--shutdown-timeout", "1e300"], ["--broker-wait", "1e9"], ["--max-body-size", "10"],
                      ["--concurrency", "0"], ["--shutdown-timeout", "nan"]])
    func outOfRange(_ arguments: [String]) async throws {
        let worker = builtProduct("parcel-worker") ?? repositoryRoot.appendingPathComponent(".build/debug/parcel-worker")
        let result = try await runChild(worker, arguments)
        #expect(result.status == 64, "\(arguments): exit \(result.status), \(result.errors)")
        #expect(result.errors.contains("\(arguments[0]) must be from"), "\(result.errors)")
    }
}
