import AMQP
import Foundation
import Logging
import ParcelCore
import Synchronization

/// Runs the stages: consumes the stage queues, lets ``TaskProcessor`` decide, publishes what it
/// decided with a confirm, and only then acknowledges. Reconnects when the broker goes away.
///
/// Two connections, as RabbitMQ advises: flow control on the publisher must not stall deliveries.
/// `concurrency` bounds the tasks in flight across all stages and is each consumer's prefetch.
public final class StageWorker: Sendable {
    public struct Configuration: Sendable {
        public var amqp: AMQPConfiguration
        public var topology: ParcelTopology
        public var stages: [Stage]
        public var concurrency: Int
        /// How long in-flight tasks may take to finish once shutdown begins.
        public var shutdownTimeout: Duration
        /// First and longest pause between reconnection attempts.
        public var reconnectDelay: ClosedRange<Duration>
        /// How often the queues' depths and consumers are read for the metrics; nil: never.
        public var queueReadingInterval: Duration?

        public init(amqp: AMQPConfiguration, topology: ParcelTopology, stages: [Stage] = Stage.allCases,
                    concurrency: Int = 16, shutdownTimeout: Duration = .seconds(30),
                    reconnectDelay: ClosedRange<Duration> = .milliseconds(200) ... .seconds(5),
                    queueReadingInterval: Duration? = nil) {
            self.amqp = amqp
            self.topology = topology
            self.stages = stages
            self.concurrency = max(1, concurrency)
            self.shutdownTimeout = shutdownTimeout
            self.reconnectDelay = reconnectDelay
            self.queueReadingInterval = queueReadingInterval
        }
    }

    /// Counts of what the worker did, by outcome (and reconnections), for logs and tests.
    public struct Counters: Sendable {
        public var outcomes: [TaskDecision.Outcome: Int] = [:]
        public var requeued = 0
        public var reconnects = 0
    }

    let configuration: Configuration
    let processor: TaskProcessor
    let logger: Logger
    let metrics: ParcelMetrics.Worker
    private let counters = Mutex(Counters())
    private let ready = Mutex(false)

    /// Metrics go to the swift-metrics backend bootstrapped before this (none: they cost nothing).
    public init(configuration: Configuration, processor: TaskProcessor, logger: Logger = Logger(label: "parcelflow.worker")) {
        self.configuration = configuration
        self.processor = processor
        self.logger = logger
        metrics = ParcelMetrics.Worker()
    }

    public var counts: Counters { counters.withLock { $0 } }

    /// True while connected, with the topology declared and consumers running.
    public var isReady: Bool { ready.withLock { $0 } }

    /// Works until the calling task is cancelled, then stops consuming, lets in-flight tasks finish
    /// within the shutdown timeout, and returns. Connection losses are survived with reconnects;
    /// the first connection's failure is thrown (a misconfiguration should not loop silently).
    public func run() async throws {
        var delay = configuration.reconnectDelay.lowerBound
        var connectedOnce = false
        while !Task.isCancelled {
            do {
                try await session { connectedOnce = true; delay = self.configuration.reconnectDelay.lowerBound }
                return  // cancelled: the session drained and closed
            } catch let error as AMQPError where connectedOnce && Self.worthReconnecting(error) {
                setReady(false)
                counters.withLock { $0.reconnects += 1 }
                metrics.reconnected()
                logger.warning("lost the broker; reconnecting", metadata: ["error": "\(error)", "in": "\(delay)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, configuration.reconnectDelay.upperBound)
            }
        }
    }

    /// The broker went away, or the topology changed under us (a queue deleted, an exchange missing):
    /// connecting again and re-declaring fixes both.
    static func worthReconnecting(_ error: AMQPError) -> Bool {
        error.isConnectionLevel || error.code == .channelClosedByBroker || error.code == .consumerCancelled
    }

    /// One connected period: until cancellation (drains, returns) or a connection failure (throws).
    private func session(connected: () -> Void) async throws {
        var consumerConfiguration = configuration.amqp
        consumerConfiguration.connectionName += " (consumer)"
        var publisherConfiguration = configuration.amqp
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
            try await serve(consuming: consuming, publishing: publishing, connected: connected)
        } catch {
            await consuming.close()
            await publishing.close()
            throw error
        }
        await consuming.close()
        await publishing.close()
    }

    private func serve(consuming: AMQPConnection, publishing: AMQPConnection, connected: () -> Void) async throws {
        try await configuration.topology.declare(on: try await publishing.openChannel())
        let publisher = try await publishing.openChannel()
        try await publisher.enableConfirms()
        let channel = try await consuming.openChannel()
        try await channel.setPrefetch(UInt16(clamping: configuration.concurrency))
        var consumers: [(Stage, AMQPConsumer)] = []
        for stage in configuration.stages {
            consumers.append((stage, try await channel.consume(queue: configuration.topology.stageQueue(stage))))
        }
        let started = consumers
        connected()
        setReady(true)
        let queueReadings = configuration.queueReadingInterval.map { interval in
            Task { await self.readQueues(on: publishing, every: interval) }
        }
        defer { queueReadings?.cancel() }
        logger.info("working", metadata: ["stages": "\(configuration.stages.map(\.rawValue))",
                                          "concurrency": "\(configuration.concurrency)"])

        let slots = Slots(configuration.concurrency)
        let failure = FirstError()
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                for (stage, consumer) in started {
                    group.addTask {
                        // The stage's tasks in flight; `slots` bounds them across all stages.
                        await withDiscardingTaskGroup { tasks in
                            do throws(AMQPError) {
                                for try await delivery in consumer {
                                    await slots.acquire()
                                    tasks.addTask {
                                        if let lost = await self.handle(delivery, stage: stage, publisher: publisher) {
                                            // The publisher's connection is gone: end the session to reconnect.
                                            failure.record(lost)
                                            await consuming.close()
                                        }
                                        slots.release()
                                    }
                                }
                            } catch {
                                failure.record(error)
                            }
                        }
                    }
                }
                // A consumer ended because the connection failed: stop the others so the session
                // can reconnect. (On cancellation they end after `cancel()` below.)
                for await _ in group {
                    if failure.error != nil {
                        for (_, consumer) in started { try? await consumer.cancel() }
                        await consuming.close()
                    }
                }
            }
        } onCancel: {
            // Graceful shutdown: no new deliveries; those already received are still handed out,
            // processed and acknowledged; the group ends when they are done.
            Task {
                for (_, consumer) in started { try? await consumer.cancel() }
            }
            Task {
                try? await Task.sleep(for: self.configuration.shutdownTimeout)
                // Past the deadline: close; unacknowledged tasks go back to their queues.
                await consuming.close()
            }
        }
        setReady(false)
        if let error = failure.error, !Task.isCancelled { throw error }
    }

    private func setReady(_ isReady: Bool) {
        ready.withLock { $0 = isReady }
        metrics.setReady(isReady)
    }

    /// Reads the stage queues' and the dead-letter queue's depth and consumers into the metrics
    /// until cancelled. A failed reading is skipped: the session notices a lost connection itself.
    private func readQueues(on connection: AMQPConnection, every interval: Duration) async {
        var channel: AMQPChannel?
        while !Task.isCancelled {
            do {
                if channel == nil || channel?.closedReason != nil { channel = try await connection.openChannel() }
                if let channel, case .queues(let stages, let dead) = await configuration.topology.readQueues(on: channel) {
                    for (stage, reading) in stages {
                        metrics.queue(configuration.topology.stageQueue(stage), messages: reading.messages, consumers: reading.consumers)
                    }
                    metrics.queue(configuration.topology.deadQueue, messages: dead.messages, consumers: dead.consumers)
                }
            } catch {
                logger.debug("could not read the queues", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
        await channel?.close()
    }

    /// One delivery: decide, publish the follow-up with a confirm, acknowledge. Each task goes on by
    /// itself, so a slow one never holds back the others (handling what arrived together as one batch
    /// measured no faster). Returns the error if the publisher's connection failed.
    private func handle(_ delivery: AMQPDelivery, stage: Stage, publisher: AMQPChannel) async -> AMQPError? {
        let received = ContinuousClock.now
        metrics.started(stage)
        let decision: TaskDecision
        do {
            decision = try await decide(delivery, stage: stage)
        } catch {
            // The store failed: leave the task to a later attempt, after a pause so a store outage
            // does not spin.
            logger.error("status store error; the task goes back to its queue",
                         metadata: ["stage": "\(stage)", "error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            requeue(delivery, stage: stage)
            return nil
        }
        if let publish = decision.publish {
            if let error = await publisher.publish(contentsOf: [message(for: publish)]).first ?? nil {
                logger.warning("could not publish a task's follow-up; it goes back to its queue",
                               metadata: ["stage": "\(stage)", "error": "\(error)"])
                requeue(delivery, stage: stage)
                return Self.worthReconnecting(error) ? error : nil
            }
        }
        do {
            try delivery.ack()
            counters.withLock { $0.outcomes[decision.outcome, default: 0] += 1 }
            metrics.settled(stage, decision.outcome, after: ContinuousClock.now - received, submittedAt: decision.submittedAt)
        } catch {
            logger.warning("could not acknowledge; the broker will redeliver", metadata: ["error": "\(error)"])
            metrics.requeued(stage)
        }
        return nil
    }

    /// What to do with one delivery. Quorum queues count returned deliveries; on the last one the
    /// limit allows, the task is quarantined instead of run.
    private func decide(_ delivery: AMQPDelivery, stage: Stage) async throws -> TaskDecision {
        if let returned = delivery.headers["x-delivery-count"]?.intValue, returned >= configuration.topology.deliveryLimit {
            return try await processor.quarantine(body: delivery.body, queueStage: stage, deliveries: returned + 1)
        }
        return try await processor.process(body: delivery.body, queueStage: stage)
    }

    private func requeue(_ delivery: AMQPDelivery, stage: Stage) {
        counters.withLock { $0.requeued += 1 }
        metrics.requeued(stage)
        try? delivery.nack(requeue: true)
    }

    func message(for publish: TaskDecision.Publish) -> AMQPOutboundMessage {
        let topology = configuration.topology
        switch publish {
        case .next(let task):
            return topology.stageTask(task)
        case .retry(let task, let delay, let expiration):
            var properties = AMQPProperties.persistentJSON(messageID: task.taskID, correlationID: task.parcelID)
            properties.expiration = String(max(1, expiration.wholeMilliseconds))
            return AMQPOutboundMessage(routingKey: topology.retryQueue(task.stage, delay: delay), body: task.encoded(),
                                       properties: properties, mandatory: true)
        case .deadLetter(let letter):
            var headers: AMQPTable = [
                DeadLetter.Header.attempts: .int64(Int64(letter.attempts)),
                DeadLetter.Header.kind: .string(letter.kind.rawValue),
                DeadLetter.Header.reason: .string(letter.reason),
            ]
            if let stage = letter.stage { headers[DeadLetter.Header.stage] = .string(stage.rawValue) }
            return AMQPOutboundMessage(
                exchange: topology.deadExchange, routingKey: letter.stage?.rawValue ?? "", body: letter.body,
                properties: .persistentJSON(
                    messageID: letter.parcelID.flatMap { id in letter.stage.map { TaskEnvelope.taskID(parcelID: id, stage: $0) } },
                    correlationID: letter.parcelID, headers: headers),
                mandatory: true)
        }
    }
}

/// The first error any of several tasks reports.
final class FirstError: Sendable {
    private let slot = Mutex<AMQPError?>(nil)

    func record(_ error: AMQPError) { slot.withLock { if $0 == nil { $0 = error } } }

    var error: AMQPError? { slot.withLock { $0 } }
}

/// A counting semaphore for tasks: at most `count` holders at once.
final class Slots: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(_ count: Int) {
        state = Mutex(State(available: count))
    }

    func acquire() async {
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume()
    }
}
