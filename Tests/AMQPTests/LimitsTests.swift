@testable import AMQP
import Foundation
import ParcelTestSupport
import Testing

/// What a peer may make this process hold: bodies over a consumer's limit, headers too deep or too
/// many, and messages that rabbitmq-c would refuse to encode.
@Suite("Limits on what a peer can make us hold")
struct LimitsTests {
    @Test("a body over the consumer's limit arrives without its body, with the refusal; the next one arrives whole")
    func bodyOverTheLimit() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("body-limit")
        try await channel.declareQueue(queue, options: AMQPQueueOptions(durable: false, autoDelete: false))
        try await channel.enableConfirms()
        // Larger than a frame, so that it comes in several body frames that must all be skipped.
        let big = Data(repeating: 0x5b, count: 300_000)
        try await channel.publish(AMQPOutboundMessage(routingKey: queue, body: big,
                                                      properties: AMQPProperties(messageID: "big")))
        try await channel.publish(AMQPOutboundMessage(routingKey: queue, body: Data("small".utf8),
                                                      properties: AMQPProperties(messageID: "small")))
        let consumer = try await channel.consume(queue: queue, maxBodySize: 100_000)
        var deliveries = consumer.makeAsyncIterator()
        let refused = try #require(try await deliveries.next())
        #expect(refused.body.isEmpty)
        #expect(refused.bodySize == 300_000)
        #expect(refused.refusal == .bodyTooLarge(size: 300_000, limit: 100_000))
        #expect(refused.refusal?.description == "body of 300000 bytes is larger than the limit (100000 bytes)")
        #expect(refused.properties.messageID == "big", "the properties still arrive")
        try refused.ack()
        let small = try #require(try await deliveries.next())
        #expect(small.body == Data("small".utf8) && small.refusal == nil && small.bodySize == 5)
        try small.ack()
        #expect(channel.closedReason == nil)

        // basic.get takes the same limit.
        try await consumer.cancel()
        try await channel.publish(AMQPOutboundMessage(routingKey: queue, body: big))
        let got = try #require(try await channel.get(queue: queue, autoAck: true, maxBodySize: 1000))
        #expect(got.body.isEmpty && got.refusal == .bodyTooLarge(size: 300_000, limit: 1000))
        _ = try await channel.deleteQueue(queue)
        await connection.close()
    }

    @Test("headers nested deeper than 16 levels or holding more than 1,000 entries are refused; at the limits they arrive")
    func headerBounds() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("header-limit")
        try await channel.declareQueue(queue, options: AMQPQueueOptions(durable: false, autoDelete: false))
        try await channel.enableConfirms()
        func nested(_ levels: Int, array: Bool = false) -> AMQPTable {
            // The headers table is level 1.
            var value: AMQPFieldValue = "bottom"
            for _ in 1..<levels { value = array ? .array([value]) : .table(["n": value]) }
            return ["deep": value]
        }
        func entries(_ count: Int) -> AMQPTable {
            // 10 arrays of count / 10 - 1 values: each array is an entry too.
            var table: AMQPTable = [:]
            for index in 0..<10 { table["a\(index)"] = .array((0..<(count / 10 - 1)).map { .int32(Int32($0)) }) }
            return table
        }
        let cases: [(AMQPTable, AMQPDelivery.Refusal?)] = [
            (nested(16), nil), (nested(17), .headersTooDeep(limit: 16)),
            (nested(16, array: true), nil), (nested(17, array: true), .headersTooDeep(limit: 16)),
            (entries(1000), nil), (entries(1010), .tooManyHeaders(limit: 1000)),
            (nested(3000), .headersTooDeep(limit: 16)),
        ]
        for (headers, _) in cases {
            try await channel.publish(AMQPOutboundMessage(routingKey: queue, body: Data("x".utf8),
                                                          properties: AMQPProperties(headers: headers)))
        }
        for (index, (headers, refusal)) in cases.enumerated() {
            let delivery = try #require(try await channel.get(queue: queue, autoAck: true))
            #expect(delivery.refusal == refusal, "case \(index)")
            #expect(delivery.properties.headers == (refusal == nil ? headers : nil), "case \(index)")
            #expect(delivery.body == Data("x".utf8), "a header refusal keeps the body")
        }
        #expect(channel.closedReason == nil)
        _ = try await channel.deleteQueue(queue)
        await connection.close()
    }

    @Test("the deepest header a frame can hold is decoded on a thread of the connection's stack size, and refused",
          arguments: [false, true])
    func worstCaseDepth(arrays: Bool) async throws {
        let frameMax = AMQPConfiguration(endpoints: [], connectionName: "").boundedFrameMax
        // Each level takes 6 bytes as a table entry (empty key, 'F', length) or 5 as an array ('A', length).
        let levels = (frameMax - 8 - 14 - 4) / (arrays ? 5 : 6)
        let encoded = Self.nestedEncoding(levels: levels, arrays: arrays)
        #expect(encoded.count <= frameMax)
        let outcome = await Self.onThread(stackSize: AMQPHeaderDecoding.threadStackSize(frameMax: frameMax)) {
            AMQPHeaderDecoding.decode(encoded)
        }
        #expect(outcome == .refused(.headersTooDeep(limit: 16)), "\(levels) levels")
    }

    @Test("a message whose properties rabbitmq-c would refuse fails alone: the connection and the next publish go on")
    func unencodableMessage() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("unencodable")
        try await channel.declareQueue(queue, options: AMQPQueueOptions(durable: false, autoDelete: false))
        try await channel.enableConfirms()
        let huge = String(repeating: "x", count: 200_000)
        let bad = [
            AMQPOutboundMessage(routingKey: queue, body: Data(), properties: AMQPProperties(headers: ["reason": .string(huge)])),
            AMQPOutboundMessage(routingKey: queue, body: Data(), properties: AMQPProperties(messageID: String(huge.prefix(300)))),
            AMQPOutboundMessage(routingKey: String(huge.prefix(256)), body: Data()),
        ]
        let good = AMQPOutboundMessage(routingKey: queue, body: Data("fine".utf8))
        let results = await channel.publish(contentsOf: [good] + bad + [good])
        #expect(results.first! == nil && results.last! == nil, "\(results)")
        for error in results.dropFirst().dropLast() {
            #expect(error?.code == .invalidArgument, "\(String(describing: error))")
        }
        #expect(results[1]?.message.contains("more than a frame of") == true, "\(String(describing: results[1]))")
        #expect(results[2]?.message.contains("message id property is 300 bytes") == true)
        #expect(channel.closedReason == nil)
        #expect(try await channel.queueState(queue).messageCount == 2)
        try await channel.publish(good)
        _ = try await channel.deleteQueue(queue)
        await connection.close()
    }

    /// A field table nested `levels` deep, encoded as on the wire (its length first), written front
    /// to back: each length is known from the levels left.
    static func nestedEncoding(levels: Int, arrays: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        func length(_ value: Int) { bytes += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }
        if arrays {
            // A table with one entry, then levels - 1 arrays, each holding the next.
            let count = levels - 1
            length(2 + 4 + 5 * (count - 1))
            bytes += [0, UInt8(ascii: "A")]
            for index in 0..<count {
                length(5 * (count - 1 - index))
                if index < count - 1 { bytes.append(UInt8(ascii: "A")) }
            }
        } else {
            // Tables, each with one entry (an empty key) holding the next; the innermost is empty.
            for index in 0..<(levels - 1) {
                length(6 * (levels - 1 - index))
                bytes += [0, UInt8(ascii: "F")]
            }
            length(0)
        }
        return bytes
    }

    /// Runs `body` on a thread of its own with the given stack, as the connection thread runs it.
    static func onThread<T: Sendable>(stackSize: Int, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.stackSize = stackSize
            thread.start()
        }
    }
}
