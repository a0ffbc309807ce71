import AMQP
import Foundation
import Logging
import ParcelCore
import ParcelWorkerRuntime

/// The worker runtime's broker, over AMQP (rabbitmq-c): two connections per session, as RabbitMQ
/// advises (flow control on the publisher must not stall deliveries), quorum stage queues, follow-ups
/// published with confirms (FollowUpMessages.swift says what each one becomes).
public struct RabbitTransport: WorkerTransport {
    public var amqp: AMQPConfiguration
    public var topology: ParcelTopology
    /// Deliveries announced larger than this are dead-lettered as invalid without being read.
    public var maxBodySize: Int
    let logger: Logger

    public init(amqp: AMQPConfiguration, topology: ParcelTopology, maxBodySize: Int = AMQPLimits.defaultMaxBodySize,
                logger: Logger = Logger(label: "parcelflow.worker")) {
        self.amqp = amqp
        self.topology = topology
        self.maxBodySize = maxBodySize
        self.logger = logger
    }

    public var endpoint: String { amqp.endpoints.map(\.description).joined(separator: ",") }

    public func connect(stages: [Stage], prefetch: Int) async throws -> any WorkerSession {
        var consumerConfiguration = amqp
        consumerConfiguration.connectionName += " (consumer)"
        var publisherConfiguration = amqp
        publisherConfiguration.connectionName += " (publisher)"
        let consuming = try await AMQPConnection.connect(consumerConfiguration, logger: logger)
        let publishing: AMQPConnection
        do {
            publishing = try await AMQPConnection.connect(publisherConfiguration, logger: logger)
        } catch {
            await consuming.close()
            throw error
        }
        do {
            try await topology.declare(on: try await publishing.openChannel())
            let publisher = try await publishing.openChannel()
            try await publisher.enableConfirms()
            let channel = try await consuming.openChannel()
            try await channel.setPrefetch(UInt16(clamping: prefetch))
            var consumers: [(stage: Stage, consumer: any TaskConsumer)] = []
            for stage in stages {
                let consumer = try await channel.consume(queue: topology.stageQueue(stage), maxBodySize: maxBodySize)
                consumers.append((stage, RabbitConsumer(consumer: consumer)))
            }
            return RabbitSession(consuming: consuming, publishing: publishing, consumers: consumers,
                                 publisher: RabbitPublisher(channel: publisher, topology: topology))
        } catch {
            await consuming.close()
            await publishing.close()
            throw error
        }
    }

    public func classify(_ error: any Error) -> ConnectionFault {
        guard let error = error as? AMQPError else { return .fatal }
        if Self.brokerAbsent(error) { return .brokerAbsent }
        if error.isConnectionLevel || error.code == .channelClosedByBroker || error.code == .consumerCancelled { return .lost }
        return .fatal
    }

    /// Nothing answers, or the node is going down (CONNECTION_FORCED): a broker that may yet come — not
    /// a wrong password, an unknown vhost, a bad certificate or a conflicting queue, which no waiting fixes.
    static func brokerAbsent(_ error: AMQPError) -> Bool {
        [.connectionRefused, .unreachable, .timedOut, .connectionLost].contains(error.code)
            || (error.code == .connectionClosedByBroker && error.replyCode == 320)
    }
}

/// One connected period: the consuming and the publishing connection.
struct RabbitSession: WorkerSession {
    let consuming: AMQPConnection
    let publishing: AMQPConnection
    let consumers: [(stage: Stage, consumer: any TaskConsumer)]
    let publisher: any FollowUpPublisher

    func publisherClosed() async -> (any Error)? { await publishing.closed() }

    func closeConsuming() async { await consuming.close() }

    func close() async {
        await consuming.close()
        await publishing.close()
    }
}

struct RabbitConsumer: TaskConsumer {
    let consumer: AMQPConsumer

    func batches() -> any TaskBatches { Batches(iterator: consumer.makeAsyncIterator()) }

    func stop() async { try? await consumer.cancel() }

    struct Batches: TaskBatches {
        var iterator: AMQPConsumer.Iterator

        mutating func next() async throws -> [any TaskDelivery]? {
            try await iterator.nextBatch()
        }
    }
}

extension AMQPDelivery: TaskDelivery {
    public var refusalReason: String? { refusal?.description }

    /// From the quorum queue's `x-delivery-count`, and only on a redelivery: anyone who can publish can
    /// write that header on a first delivery.
    public var returnedCount: Int? {
        Self.returnedCount(redelivered: redelivered, header: headers["x-delivery-count"])
    }

    package static func returnedCount(redelivered: Bool, header: AMQPFieldValue?) -> Int? {
        redelivered ? header?.intValue : nil
    }

    public var canSettle: Bool { settleFailure == nil }

    public func acknowledge() throws { try ack() }

    public func requeue() throws { try nack(requeue: true) }
}
