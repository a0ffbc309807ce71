import AMQP
import Foundation
import ParcelTestSupport
import Testing

@Suite("Consuming and settling")
struct ConsumeTests {
    /// A queue that dead-letters into a second queue through the default exchange.
    private func queueWithDeadLetters(_ channel: AMQPChannel, _ name: String, type: AMQPQueueOptions.QueueType = .classic,
                                      deliveryLimit: Int? = nil) async throws -> String {
        let dead = name + ".dead"
        try await channel.declareQueue(dead, options: AMQPQueueOptions(durable: true))
        try await channel.declareQueue(name, options: AMQPQueueOptions(
            type: type, deadLetterExchange: "", deadLetterRoutingKey: dead, deliveryLimit: deliveryLimit))
        return dead
    }

    @Test("nack and reject without requeue land in the dead-letter queue", arguments: ["nack", "reject"])
    func settleToDeadLetters(how: String) async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("dlx-\(how)")
        let dead = try await queueWithDeadLetters(channel, queue)
        try await channel.enableConfirms()
        _ = await channel.publish(contentsOf: (0..<5).map { .text("poison \($0)", to: queue) })

        let consumer = try await channel.consume(queue: queue)
        var received = 0
        for try await delivery in consumer {
            if how == "nack" { try delivery.nack(requeue: false) } else { try delivery.reject(requeue: false) }
            received += 1
            if received == 5 { break }
        }
        try await consumer.cancel()
        #expect(try await eventually { try await channel.queueState(dead).messageCount == 5 })
        #expect(try await channel.queueState(queue).messageCount == 0)
        let first = try #require(try await channel.get(queue: dead, autoAck: true))
        #expect(String(decoding: first.body, as: UTF8.self) == "poison 0")
        let death = try #require(first.headers["x-death"]?.arrayValue?.first?.tableValue)
        #expect(death["reason"]?.stringValue == "rejected")
        #expect(death["queue"]?.stringValue == queue)
        try await channel.deleteQueue(queue)
        try await channel.deleteQueue(dead)
        await connection.close()
    }

    @Test("a quorum queue with a delivery limit dead-letters a message after that many redeliveries")
    func deliveryLimit() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("limit")
        let dead = try await queueWithDeadLetters(channel, queue, type: .quorum, deliveryLimit: 3)
        try await channel.enableConfirms()
        try await channel.publish(.text("crashes every worker", to: queue))

        let consumer = try await channel.consume(queue: queue)
        var attempts = 0
        for try await delivery in consumer {
            attempts += 1
            #expect(delivery.redelivered == (attempts > 1))
            // As if the worker died: the message goes back to the queue, counted by the broker.
            try delivery.nack(requeue: true)
            if attempts == 4 { break }
        }
        #expect(try await eventually { try await channel.queueState(dead).messageCount == 1 })
        #expect(attempts == 4)  // the first delivery and three redeliveries, then the limit
        try await consumer.cancel()
        let letter = try #require(try await channel.get(queue: dead, autoAck: true))
        #expect(letter.headers["x-death"]?.arrayValue?.first?.tableValue?["reason"]?.stringValue == "delivery_limit")
        try await channel.deleteQueue(queue)
        try await channel.deleteQueue(dead)
        await connection.close()
    }

    @Test("a consumer learns that its queue was deleted")
    func queueDeletedUnderConsumer() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("deleted")
        try await channel.declareQueue(queue, options: AMQPQueueOptions(durable: false))
        let consumer = try await channel.consume(queue: queue)

        let admin = try await TestBroker.connect("admin")
        try await admin.openChannel().deleteQueue(queue)

        let error = await #expect(throws: AMQPError.self) {
            for try await _ in consumer {}
        }
        #expect(error?.code == .consumerCancelled)
        await admin.close()
        await connection.close()
    }

    @Test("acks are coalesced, and each message is settled exactly once")
    func manyAcks() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("acks")
        try await channel.declareQueue(queue, options: AMQPQueueOptions(durable: false))
        try await channel.enableConfirms()
        let count = 3_000
        _ = await channel.publish(contentsOf: (0..<count).map { .text("\($0)", to: queue) })
        try await channel.setPrefetch(100)
        let consumer = try await channel.consume(queue: queue)
        // Every tenth message is requeued once, so the acks are not always contiguous: a coalesced
        // `multiple` ack that swallowed a requeued message would lose it, and it would never come back.
        let worker = Task {
            var acked = Set<String>()
            var requeued = 0
            var index = 0
            for try await delivery in consumer {
                let text = String(decoding: delivery.body, as: UTF8.self)
                if index % 10 == 5, !delivery.redelivered {
                    try delivery.nack(requeue: true)
                    requeued += 1
                } else {
                    #expect(acked.insert(text).inserted, "message \(text) delivered after its ack")
                    try delivery.ack()
                }
                index += 1
                if acked.count == count { break }
            }
            return (acked.count, requeued)
        }
        let (acked, requeued) = try await worker.value
        #expect(acked == count)
        #expect(requeued > 200)
        #expect(channel.closedReason == nil)  // no unknown or double ack closed it
        try await consumer.cancel()
        await channel.close()
        let check = try await connection.openChannel()
        #expect(try await check.queueState(queue).messageCount == 0)  // closing requeued nothing: all acked
        try await check.deleteQueue(queue)
        await connection.close()
    }

    @Test("cancelling a consumer ends iteration after the deliveries already received")
    func cancelEndsIteration() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("cancel")
        try await channel.declareQueue(queue, options: AMQPQueueOptions(durable: false))
        let consumer = try await channel.consume(queue: queue)
        let iteration = Task {
            var n = 0
            for try await delivery in consumer {
                try delivery.ack()
                n += 1
            }
            return n
        }
        try await channel.enableConfirms()
        _ = await channel.publish(contentsOf: (0..<10).map { .text("\($0)", to: queue) })
        #expect(try await eventually { try await channel.queueState(queue).messageCount == 0 })
        try await consumer.cancel()
        #expect(try await iteration.value == 10)
        try await channel.deleteQueue(queue)
        await connection.close()
    }

    @Test("basic.get returns the right message while the same channel publishes and consumes", .timeLimit(.minutes(1)))
    func getAmidTraffic() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let (gets, busy) = (TestBroker.unique("get"), TestBroker.unique("busy"))
        for queue in [gets, busy] { try await channel.declareQueue(queue, options: AMQPQueueOptions(durable: false)) }
        try await channel.enableConfirms()
        _ = await channel.publish(contentsOf: (0..<50).map { .text("get \($0)", to: gets) })
        let consumer = try await channel.consume(queue: busy)
        let consumed = Task {
            var n = 0
            for try await delivery in consumer {
                #expect(String(decoding: delivery.body, as: UTF8.self).hasPrefix("busy "))
                try delivery.ack()
                n += 1
                if n == 2_000 { break }
            }
            return n
        }
        // Confirms and deliveries keep arriving on this channel while each basic.get waits for its reply.
        let publishing = Task {
            for round in 0..<20 {
                _ = await channel.publish(contentsOf: (0..<100).map { .text("busy \(round)-\($0)", to: busy) })
            }
        }
        for index in 0..<50 {
            let delivery = try #require(try await channel.get(queue: gets))
            #expect(String(decoding: delivery.body, as: UTF8.self) == "get \(index)")
            try delivery.ack()
        }
        #expect(try await channel.get(queue: gets) == nil)
        await publishing.value
        #expect(try await consumed.value == 2_000)
        #expect(channel.closedReason == nil)
        try await consumer.cancel()
        try await channel.deleteQueue(gets)
        try await channel.deleteQueue(busy)
        await connection.close()
    }
}
