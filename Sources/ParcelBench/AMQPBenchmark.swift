import AMQP
import Foundation

/// `parcelctl bench amqp`: how fast the AMQP layer publishes with confirms and consumes with acks,
/// measured the way the plain-C baseline measures rabbitmq-c, so the two can be compared in one run.
///
/// Each run publishes `messages` persistent ~300-byte JSON messages to a durable queue with pipelined
/// confirms (up to `window` unconfirmed), then consumes them with one manual ack per message at
/// prefetch 100, on a separate connection as a worker would. The report gives every run and the
/// medians.
public struct AMQPBenchmark: Sendable {
    public struct Options: Sendable {
        public var configuration: AMQPConfiguration
        public var messages = 8_000
        public var runs = 5
        public var prefetch: UInt16 = 100
        /// Messages handed to the connection thread at once.
        public var batchSize = 100
        /// Unconfirmed messages allowed in flight.
        public var window = 2_000
        public var queue = "parcelflow.bench.amqp"

        public init(configuration: AMQPConfiguration) {
            self.configuration = configuration
        }
    }

    public struct Run: Sendable, Encodable {
        public let publishSeconds: Double
        public let consumeSeconds: Double
        public let publishMessagesPerSecond: Double
        public let consumeMessagesPerSecond: Double

        enum CodingKeys: String, CodingKey {
            case publishSeconds = "publish_s"
            case consumeSeconds = "consume_s"
            case publishMessagesPerSecond = "publish_msgs_per_s"
            case consumeMessagesPerSecond = "consume_msgs_per_s"
        }
    }

    public struct Report: Sendable, Encodable {
        public let messages: Int
        public let bodyBytes: Int
        public let runs: [Run]
        public let publishMessagesPerSecond: Double
        public let consumeMessagesPerSecond: Double
        public let broker: String
        public let brokerVersion: String?

        enum CodingKeys: String, CodingKey {
            case messages, runs, broker
            case bodyBytes = "body_bytes"
            case publishMessagesPerSecond = "publish_msgs_per_s"
            case consumeMessagesPerSecond = "consume_msgs_per_s"
            case brokerVersion = "broker_version"
        }
    }

    public let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// Runs the benchmark; `progress` receives one line per finished run.
    public func run(progress: @Sendable (String) -> Void = { _ in }) async throws(AMQPError) -> Report {
        guard options.messages > 0, options.runs > 0, options.batchSize > 0, options.window >= options.batchSize else {
            throw AMQPError(.invalidArgument, "messages, runs and batch size must be positive, and window ≥ batch size")
        }
        var publisherConfiguration = options.configuration
        publisherConfiguration.connectionName += " (publisher)"
        var consumerConfiguration = options.configuration
        consumerConfiguration.connectionName += " (consumer)"
        let publisher = try await AMQPConnection.connect(publisherConfiguration)
        let consumer = try await AMQPConnection.connect(consumerConfiguration)
        let body = Self.body()
        var runs: [Run] = []
        do throws(AMQPError) {
            let channel = try await publisher.openChannel()
            try await channel.declareQueue(options.queue, options: AMQPQueueOptions(type: .classic, durable: true))
            try await channel.enableConfirms()
            for index in 1...options.runs {
                try await channel.purgeQueue(options.queue)
                let publishSeconds = try await publish(on: channel, body: body)
                let consumeSeconds = try await consume(on: consumer)
                let run = Run(publishSeconds: publishSeconds, consumeSeconds: consumeSeconds,
                              publishMessagesPerSecond: Double(options.messages) / publishSeconds,
                              consumeMessagesPerSecond: Double(options.messages) / consumeSeconds)
                runs.append(run)
                progress(String(format: "run %d/%d: publish %.0f msg/s, consume %.0f msg/s", index, options.runs,
                                run.publishMessagesPerSecond, run.consumeMessagesPerSecond))
            }
            try await channel.deleteQueue(options.queue)
        } catch {
            await publisher.close()
            await consumer.close()
            throw error
        }
        await publisher.close()
        await consumer.close()
        return Report(messages: options.messages, bodyBytes: body.count, runs: runs,
                      publishMessagesPerSecond: median(runs.map(\.publishMessagesPerSecond)),
                      consumeMessagesPerSecond: median(runs.map(\.consumeMessagesPerSecond)),
                      broker: publisher.endpoint.description, brokerVersion: publisher.brokerVersion)
    }

    /// Publishes all messages with at most `window` unconfirmed; returns the seconds taken.
    private func publish(on channel: AMQPChannel, body: Data) async throws(AMQPError) -> Double {
        let message = AMQPOutboundMessage(routingKey: options.queue, body: body,
                                          properties: AMQPProperties(contentType: "application/json", deliveryMode: 2))
        let batch = Array(repeating: message, count: options.batchSize)
        let total = options.messages
        let batchesInFlight = max(1, options.window / options.batchSize)
        let started = ContinuousClock.now
        let failures = await withTaskGroup(of: [AMQPError?].self) { group in
            var sent = 0
            var failures: [AMQPError] = []
            func next() -> [AMQPOutboundMessage]? {
                guard sent < total else { return nil }
                let count = min(options.batchSize, total - sent)
                sent += count
                return count == batch.count ? batch : Array(batch.prefix(count))
            }
            for _ in 0..<batchesInFlight {
                guard let messages = next() else { break }
                group.addTask { await channel.publish(contentsOf: messages) }
            }
            while let results = await group.next() {
                failures += results.compactMap { $0 }
                if let messages = next() { group.addTask { await channel.publish(contentsOf: messages) } }
            }
            return failures
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        if let first = failures.first { throw first.with(context: "\(failures.count) publishes failed") }
        return seconds
    }

    /// Consumes exactly `messages` with one ack each; returns the seconds from `basic.consume` to the
    /// last ack handed to the connection.
    private func consume(on connection: AMQPConnection) async throws(AMQPError) -> Double {
        let channel = try await connection.openChannel()
        try await channel.setPrefetch(options.prefetch)
        let started = ContinuousClock.now
        let consumer = try await channel.consume(queue: options.queue)
        var received = 0
        var iterator = consumer.makeAsyncIterator()
        while received < options.messages {
            guard let batch = try await iterator.nextBatch() else { break }
            for delivery in batch { try delivery.ack() }
            received += batch.count
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        try await consumer.cancel()
        await channel.close()
        guard received == options.messages else {
            throw AMQPError(.consumerCancelled, "the consumer ended after \(received) of \(options.messages) messages")
        }
        return seconds
    }

    /// A ~300-byte JSON task body, like the C baseline's.
    static func body() -> Data {
        var text = #"{"parcel_id":"P0000042","stage":"collection","attempt":1,"origin":"depot-42","dest":"zone-7","weight_g":1234,"note":""#
        text += String(repeating: "x", count: 300 - text.utf8.count - 2) + #""}"#
        return Data(text.utf8)
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count.isMultiple(of: 2) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle]
}
