import AMQP
import Foundation
import Logging
import ParcelCore
import ParcelWorkerRuntime
import Synchronization

/// The worker runtime's broker, over AMQP (rabbitmq-c): two connections per session, as RabbitMQ
/// advises (flow control on the publisher must not stall deliveries), quorum stage queues, follow-ups
/// published with confirms (FollowUpMessages.swift says what each one becomes).
public struct RabbitTransport: WorkerTransport {
    public var amqp: AMQPConfiguration
    public var topology: ParcelTopology
    /// Deliveries announced larger than this are dead-lettered as invalid without being read.
    public var maxBodySize: Int
    /// How long follow-ups left unconfirmed by a lost connection are sent again through a new one
    /// before their tasks go back to their queues and the session starts over.
    public var resendWithin: Duration = .seconds(10)
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
        publisherConfiguration.blockedChanged = { reason in ParcelMetrics.recordPublishingBlocked(reason != nil) }
        let consuming = try await AMQPConnection.connect(consumerConfiguration, logger: logger)
        // Its own connection, which moves to another node when its node is lost and sends again what
        // was not confirmed: the consumers carry on meanwhile, their tasks waiting for the confirms.
        let publisher = ReconnectingPublisher(configuration: publisherConfiguration, resendWithin: resendWithin,
                                              logger: logger, resending: ParcelMetrics.recordResent)
        do {
            try await publisher.connect()
            let topology = topology, maxBodySize = maxBodySize
            try await topology.declare(on: try await consuming.openChannel())
            let channel = try await consuming.openChannel()
            try await channel.setPrefetch(UInt16(clamping: prefetch))
            var consumers: [(stage: Stage, consumer: any TaskConsumer)] = []
            for stage in stages {
                let queue = topology.stageQueue(stage)
                let consumer = try await channel.consume(queue: queue, maxBodySize: maxBodySize)
                consumers.append((stage, RabbitConsumer(stage: stage, first: consumer, logger: logger) {
                    // The queue may have been deleted (that is one reason for a cancel): declare the
                    // topology again, on a channel of its own, then subscribe on the same channel.
                    let scratch = try await consuming.openChannel()
                    try await topology.declare(on: scratch)
                    await scratch.close()
                    return try await channel.consume(queue: queue, maxBodySize: maxBodySize)
                }))
            }
            return RabbitSession(consuming: consuming, publishing: publisher, consumers: consumers,
                                 publisher: RabbitPublisher(publisher: publisher, topology: topology))
        } catch {
            await consuming.close()
            await publisher.close()
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

/// One connected period: the consuming connection, and the publisher (which reconnects by itself).
struct RabbitSession: WorkerSession {
    let consuming: AMQPConnection
    let publishing: ReconnectingPublisher
    let consumers: [(stage: Stage, consumer: any TaskConsumer)]
    let publisher: any FollowUpPublisher

    /// The publisher does not close by itself (a lost connection is replaced, and a publish that still
    /// fails returns its error): this waits until the session ends and the wait is cancelled.
    func publisherClosed() async -> (any Error)? {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        return nil
    }

    func closeConsuming() async { await consuming.close() }

    func close() async {
        await consuming.close()
        await publishing.close()
    }
}

/// A stage's consumer. When the broker cancels it (`basic.cancel`: its queue was deleted, or moved
/// away), it subscribes again on the same channel, so the deliveries it had stay settleable and the
/// other stages carry on; if that fails, the error ends the session, which reconnects.
final class RabbitConsumer: TaskConsumer {
    let stage: Stage
    let logger: Logger
    let resubscribe: @Sendable () async throws -> AMQPConsumer
    private struct State {
        var current: AMQPConsumer
        var stopped = false
    }
    private let state: Mutex<State>

    init(stage: Stage, first: AMQPConsumer, logger: Logger, resubscribe: @escaping @Sendable () async throws -> AMQPConsumer) {
        self.stage = stage
        self.logger = logger
        self.resubscribe = resubscribe
        state = Mutex(State(current: first))
    }

    func batches() -> any TaskBatches {
        Batches(owner: self, iterator: state.withLock { $0.current }.makeAsyncIterator())
    }

    func stop() async {
        let current = state.withLock { state in
            state.stopped = true
            return state.current
        }
        try? await current.cancel()
    }

    /// A new consumer in place of the cancelled one; nil when stopping meanwhile.
    fileprivate func replace(after cancel: AMQPError) async throws -> AMQPConsumer.Iterator? {
        if state.withLock({ $0.stopped }) { return nil }
        let next = try await resubscribe()
        let stopped = state.withLock { state in
            state.current = next
            return state.stopped
        }
        if stopped {
            try? await next.cancel()
        }
        ParcelMetrics.recordConsumerCancelled(stage)
        logger.warning("the broker cancelled a stage's consumer; subscribed again", metadata: [
            LogKey.stage: "\(stage.rawValue)", LogKey.error: "\(cancel)"])
        return next.makeAsyncIterator()
    }

    struct Batches: TaskBatches {
        let owner: RabbitConsumer
        var iterator: AMQPConsumer.Iterator

        mutating func next() async throws -> [any TaskDelivery]? {
            while true {
                let failure: AMQPError
                do {
                    return try await iterator.nextBatch()
                } catch {
                    failure = error
                }
                guard failure.code == .consumerCancelled else { throw failure }
                guard let next = try await owner.replace(after: failure) else { return nil }
                iterator = next
            }
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
