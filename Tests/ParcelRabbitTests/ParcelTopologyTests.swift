import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import ParcelTestSupport
import Testing

/// The broker the integration tests talk to (shared with the AMQP tests).
typealias Broker = TestBroker

@Suite("ParcelFlow topology", .serialized)
struct ParcelTopologyTests {
    @Test("deploy/rabbitmq/definitions.json holds exactly the topology the code declares")
    func definitionsFileMatchesCode() throws {
        let file = Broker.root.appendingPathComponent("deploy/rabbitmq/definitions.json")
        let onDisk = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? NSDictionary
        let fromCode = try JSONSerialization.jsonObject(with: Data(ParcelTopology().definitionsJSON().utf8)) as? NSDictionary
        #expect(onDisk != nil && onDisk == fromCode,
                "regenerate it: swift run parcelctl setup --print-definitions > deploy/rabbitmq/definitions.json")
    }

    @Test("retry delays parse and name themselves")
    func delays() {
        #expect(ParcelTopology.parseDelays("250ms, 1s,2m,1h") == [.milliseconds(250), .seconds(1), .seconds(120), .seconds(3600)])
        #expect(ParcelTopology.parseDelays("5s,1s") == [.seconds(1), .seconds(5)])
        #expect(ParcelTopology.parseDelays("1x") == nil)
        #expect(ParcelTopology.parseDelays("0s") == nil)
        // Bounded before it is multiplied: no overflow, no week-long tier.
        #expect(ParcelTopology.parseDelays("3000000000000000h") == nil)
        #expect(ParcelTopology.parseDelays("9223372036854775807ms") == nil)
        #expect(ParcelTopology.parseDelays("169h") == nil)
        #expect(ParcelTopology.parseDelays("168h") == [.seconds(7 * 24 * 3600)])
        #expect(ParcelTopology.delayName(.milliseconds(1500)) == "1500ms")
        #expect(ParcelTopology().retryQueue(.packaging, delay: .seconds(30)) == "parcelflow.retry.packaging.30s")
        #expect(ParcelTopology(namespace: "t1").stageQueue(.delivery) == "t1.delivery")
    }

    @Test("setup declares everything, twice without harm; a queue declared otherwise is refused with the broker's reason")
    func declareIdempotent() async throws {
        let connection = try await Broker.connect()
        let topology = ParcelTopology(namespace: "test.\(UInt32.random(in: 0...UInt32.max))")
        try await topology.declare(on: try await connection.openChannel())
        try await topology.declare(on: try await connection.openChannel())
        let channel = try await connection.openChannel()
        for queue in topology.queues {
            #expect(try await channel.queueState(queue.name).name == queue.name)
        }
        var other = topology
        other.deliveryLimit = 9
        let error = await #expect(throws: AMQPError.self) { try await other.declare(on: try await connection.openChannel()) }
        #expect(error?.isPreconditionFailed == true)
        #expect(error?.message.contains("x-delivery-limit") == true)
        try await topology.delete(on: try await connection.openChannel())
        await connection.close()
    }

    @Test("a task routes by stage; a retry copy waits its delay, then returns to its stage queue", .timeLimit(.minutes(1)))
    func retryRoundTrip() async throws {
        let delay = Duration.milliseconds(300)
        let topology = ParcelTopology(namespace: "test.\(UInt32.random(in: 0...UInt32.max))", retryDelays: [delay])
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        try await topology.declare(on: channel)
        try await channel.enableConfirms()
        let stageQueue = topology.stageQueue(.inspection)
        let consumerChannel = try await connection.openChannel()
        let marker = "retry-\(UInt32.random(in: 0...UInt32.max))"
        let sent = ContinuousClock.now  // before the publish: the broker's clock starts when it takes the message
        try await channel.publish(AMQPOutboundMessage(
            routingKey: topology.retryQueue(.inspection, delay: delay), body: Data(marker.utf8),
            properties: AMQPProperties(deliveryMode: 2, messageID: marker)))
        let consumer = try await consumerChannel.consume(queue: stageQueue)
        var found: AMQPDelivery?
        for try await delivery in consumer {
            if delivery.properties.messageID == marker {
                found = delivery
                try delivery.ack()
                break
            }
            Issue.record("unexpected message in a queue of this test's own")
        }
        let waited = ContinuousClock.now - sent
        try await consumer.cancel()
        #expect(found?.routingKey == "inspection")
        #expect(waited >= delay)
        try await topology.delete(on: channel)
        await connection.close()
    }
}
