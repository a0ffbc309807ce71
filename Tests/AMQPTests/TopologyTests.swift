import AMQP
import Foundation
import ParcelTestSupport
import Testing

@Suite("Declaring topology")
struct TopologyTests {
    @Test("re-declaring a queue with other arguments raises PRECONDITION_FAILED with the broker's text")
    func inequivalentRedeclare() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("redeclare")
        try await channel.declareQueue(queue, options: AMQPQueueOptions(type: .quorum, deliveryLimit: 5))
        // Declaring it again the same way is fine: declarations are idempotent.
        try await channel.declareQueue(queue, options: AMQPQueueOptions(type: .quorum, deliveryLimit: 5))

        let error = await #expect(throws: AMQPError.self) {
            try await channel.declareQueue(queue, options: AMQPQueueOptions(type: .classic))
        }
        #expect(error?.code == .channelClosedByBroker)
        #expect(error?.isPreconditionFailed == true)
        #expect(error?.replyName == "PRECONDITION_FAILED")
        #expect(error?.message.contains("inequivalent arg 'x-queue-type'") == true)
        #expect(error?.context?.contains(queue) == true)
        // The channel is closed for good, and says why; the connection lives on.
        #expect(channel.closedReason?.isPreconditionFailed == true)
        await #expect(throws: AMQPError.self) { try await channel.queueState(queue) }
        #expect(connection.isOpen)

        let other = try await connection.openChannel()
        #expect(try await other.deleteQueue(queue) == 0)
        await connection.close()
    }

    @Test("a passive declare returns message and consumer counts, and NOT_FOUND for a missing queue")
    func passiveDeclare() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("passive")
        let declared = try await channel.declareQueue(queue, options: AMQPQueueOptions(durable: false))
        #expect(declared.name == queue && declared.messageCount == 0 && declared.consumerCount == 0)
        try await channel.enableConfirms()
        _ = await channel.publish(contentsOf: (0..<3).map { .text("m\($0)", to: queue) })
        let consumerChannel = try await connection.openChannel()
        try await consumerChannel.setPrefetch(1)
        let consumer = try await consumerChannel.consume(queue: queue)
        #expect(try await eventually {
            let state = try await channel.queueState(queue)
            return state.consumerCount == 1 && state.messageCount == 2
        })
        try await consumer.cancel()
        #expect(try await channel.purgeQueue(queue) == 2)
        try await channel.deleteQueue(queue)

        let error = await #expect(throws: AMQPError.self) { try await channel.queueState(queue) }
        #expect(error?.isNotFound == true)
        #expect(error?.message.contains("NOT_FOUND") == true)
        await connection.close()
    }

    @Test("the broker names a queue declared without a name")
    func serverNamedQueue() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let state = try await channel.declareQueue("", options: AMQPQueueOptions(durable: false, exclusive: true))
        #expect(state.name.hasPrefix("amq.gen-"))
        await connection.close()
    }
}
