import AMQP
import ParcelCore

/// ParcelFlow's exchanges and queues on the broker, declared from code (`parcelctl setup`, and each
/// worker at start) and written out as `deploy/rabbitmq/definitions.json` for operators.
///
///     submit ─▶ parcelflow.tasks (direct) ──stage──▶ parcelflow.<stage>   (quorum, delivery limit)
///                     ▲                                   │ poison (limit reached)
///                     │ TTL expired, routing key = stage  ▼
///     retry ─▶ parcelflow.retry (direct) ─▶ parcelflow.retry.<stage>.<delay>
///                                           parcelflow.dead (fanout) ─▶ parcelflow.dead
///
/// Retries wait in one queue per stage and delay tier, because RabbitMQ expires messages only at the
/// head of a queue: a queue never holds two different delays. They reach it through the retry
/// exchange (routing key = the queue's name), not the default exchange: publishing to the default
/// exchange needs write access to `amq.default`, which would let a worker put messages on any queue
/// of the vhost (see deploy/rabbitmq/permissions). Stage and delay queues dead-letter
/// "at least once" (with `reject-publish` overflow, as RabbitMQ requires), so a message moving
/// between them is not lost when a node fails.
public struct ParcelTopology: Sendable, Hashable {
    public static let defaultRetryDelays: [Duration] = [.seconds(1), .seconds(5), .seconds(30), .seconds(120), .seconds(600)]
    public static let defaultNamespace = "parcelflow"

    /// The first part of every name: `parcelflow` in production; tests use their own, so that they
    /// can run side by side on one broker.
    public var namespace: String
    /// Deliveries of one message before the broker dead-letters it as poison (it kept killing workers).
    public var deliveryLimit: Int
    /// The retry tiers, shortest first.
    public var retryDelays: [Duration]

    public init(namespace: String = ParcelTopology.defaultNamespace, deliveryLimit: Int = 5,
                retryDelays: [Duration] = ParcelTopology.defaultRetryDelays) {
        self.namespace = namespace
        self.deliveryLimit = deliveryLimit
        self.retryDelays = retryDelays
    }

    public var tasksExchange: String { "\(namespace).tasks" }
    /// Routes a retry copy to its delay queue (routing key = the delay queue's name).
    public var retryExchange: String { "\(namespace).retry" }
    public var deadExchange: String { "\(namespace).dead" }
    public var deadQueue: String { "\(namespace).dead" }

    public func stageQueue(_ stage: Stage) -> String { "\(namespace).\(stage.rawValue)" }

    public func retryQueue(_ stage: Stage, delay: Duration) -> String {
        "\(namespace).retry.\(stage.rawValue).\(Self.delayName(delay))"
    }

    /// `250ms`, `5s`, `2m`, `1h`: the largest unit that divides the delay.
    public static func delayName(_ delay: Duration) -> String {
        let ms = delay.wholeMilliseconds
        if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }

    /// Parses `250ms,1s,5s,2m` into delays; nil when any item is not a positive whole number of ms/s/m/h.
    /// The longest retry delay: a week (a message's time to live must also fit RabbitMQ's 32 bits).
    public static let maxRetryDelayMilliseconds: Int64 = 7 * 24 * 3_600_000

    public static func parseDelays(_ text: String) -> [Duration]? {
        var delays: [Duration] = []
        for item in text.split(separator: ",") {
            let item = item.filter { !$0.isWhitespace }
            let (number, factor): (Substring, Int64)
            if item.hasSuffix("ms") { (number, factor) = (item.dropLast(2), 1) }
            else if item.hasSuffix("s") { (number, factor) = (item.dropLast(), 1000) }
            else if item.hasSuffix("m") { (number, factor) = (item.dropLast(), 60_000) }
            else if item.hasSuffix("h") { (number, factor) = (item.dropLast(), 3_600_000) }
            else { return nil }
            // At most `maxRetryDelay`, checked before multiplying: a number from a flag or the
            // environment must not overflow into a trap.
            guard let value = Int64(number), value > 0, value <= maxRetryDelayMilliseconds / factor else { return nil }
            delays.append(.milliseconds(value * factor))
        }
        return delays.isEmpty ? nil : delays.sorted()
    }

    /// Everything to declare, in order: exchanges, then queues, then bindings.
    public var exchanges: [Exchange] {
        [Exchange(name: tasksExchange, type: .direct), Exchange(name: retryExchange, type: .direct),
         Exchange(name: deadExchange, type: .fanout)]
    }

    public var queues: [Queue] {
        var queues = Stage.allCases.map { stage in
            Queue(name: stageQueue(stage), options: AMQPQueueOptions(
                type: .quorum, deadLetterExchange: deadExchange, deliveryLimit: deliveryLimit,
                overflow: .rejectPublish, extraArguments: ["x-dead-letter-strategy": "at-least-once"]))
        }
        for stage in Stage.allCases {
            for delay in retryDelays {
                queues.append(Queue(name: retryQueue(stage, delay: delay), options: AMQPQueueOptions(
                    type: .quorum, deadLetterExchange: tasksExchange, deadLetterRoutingKey: stage.rawValue,
                    messageTTL: delay, overflow: .rejectPublish,
                    extraArguments: ["x-dead-letter-strategy": "at-least-once"])))
            }
        }
        queues.append(Queue(name: deadQueue, options: AMQPQueueOptions(type: .quorum)))
        return queues
    }

    public var bindings: [Binding] {
        Stage.allCases.map { Binding(queue: stageQueue($0), exchange: tasksExchange, routingKey: $0.rawValue) }
            + Stage.allCases.flatMap { stage in
                retryDelays.map { delay in
                    let queue = retryQueue(stage, delay: delay)
                    return Binding(queue: queue, exchange: retryExchange, routingKey: queue)
                }
            }
            + [Binding(queue: deadQueue, exchange: deadExchange, routingKey: "")]
    }

    public struct Exchange: Sendable, Hashable {
        public let name: String
        public let type: AMQPExchangeType
    }

    public struct Queue: Sendable, Hashable {
        public let name: String
        public let options: AMQPQueueOptions
    }

    public struct Binding: Sendable, Hashable {
        public let queue: String
        public let exchange: String
        public let routingKey: String
    }

    /// Declares everything; safe to repeat. A queue that exists with other arguments fails with the
    /// broker's PRECONDITION_FAILED text (change it deliberately: delete the queue, or use a policy).
    public func declare(on channel: AMQPChannel) async throws(AMQPError) {
        for exchange in exchanges {
            try await channel.declareExchange(exchange.name, type: exchange.type, durable: true)
        }
        for queue in queues {
            try await channel.declareQueue(queue.name, options: queue.options)
        }
        for binding in bindings {
            try await channel.bindQueue(binding.queue, exchange: binding.exchange, routingKey: binding.routingKey)
        }
    }
}

extension ParcelTopology {
    /// Deletes every queue and exchange of this topology, messages and all: for tests and for
    /// tearing down a namespace, never for production data.
    public func delete(on channel: AMQPChannel) async throws(AMQPError) {
        for queue in queues { try await channel.deleteQueue(queue.name) }
        for exchange in exchanges { try await channel.deleteExchange(exchange.name) }
    }
}

extension ParcelTopology {
    /// The stage queues' and the dead-letter queue's depth and consumers (passive declares), or why
    /// they could not be read.
    public func readQueues(on channel: AMQPChannel) async -> DeliveryReport.BrokerReading {
        do throws(AMQPError) {
            var stages: [Stage: DeliveryReport.QueueReading] = [:]
            for stage in Stage.allCases {
                let state = try await channel.queueState(stageQueue(stage))
                stages[stage] = DeliveryReport.QueueReading(messages: state.messageCount, consumers: state.consumerCount)
            }
            let dead = try await channel.queueState(deadQueue)
            return .queues(stages: stages, dead: DeliveryReport.QueueReading(messages: dead.messageCount, consumers: dead.consumerCount))
        } catch {
            // A queue that is not there: the topology was never declared (or was torn down).
            return .unreachable(error.isNotFound ? "\(error.message): run `parcelctl setup` first" : "\(error)")
        }
    }
}
