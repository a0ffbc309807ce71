/// The kinds of exchange ParcelFlow declares (RabbitMQ also has `topic` and `headers`).
public enum AMQPExchangeType: String, Sendable {
    case direct, fanout
}

/// How a queue is declared: its type and the `x-` arguments RabbitMQ understands, spelled out so that
/// callers need not remember argument names and types. ``extraArguments`` carries anything else.
public struct AMQPQueueOptions: Sendable, Hashable {
    public enum QueueType: String, Sendable {
        case classic, quorum, stream
    }

    /// What a full queue does with new messages (`x-overflow`).
    public enum Overflow: String, Sendable {
        case dropHead = "drop-head"
        case rejectPublish = "reject-publish"
        case rejectPublishDeadLetter = "reject-publish-dlx"
    }

    public var type: QueueType = .classic
    public var durable = true
    public var exclusive = false
    public var autoDelete = false
    public var deadLetterExchange: String?
    public var deadLetterRoutingKey: String?
    /// Messages older than this are expired (dead-lettered when a dead-letter exchange is set).
    public var messageTTL: Duration?
    /// Quorum queues: after this many redeliveries a message is dead-lettered (or dropped).
    public var deliveryLimit: Int?
    public var maxLength: Int?
    public var overflow: Overflow?
    public var extraArguments: AMQPTable = [:]

    public init(type: QueueType = .classic, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
                deadLetterExchange: String? = nil, deadLetterRoutingKey: String? = nil, messageTTL: Duration? = nil,
                deliveryLimit: Int? = nil, maxLength: Int? = nil, overflow: Overflow? = nil,
                extraArguments: AMQPTable = [:]) {
        self.type = type
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.deadLetterExchange = deadLetterExchange
        self.deadLetterRoutingKey = deadLetterRoutingKey
        self.messageTTL = messageTTL
        self.deliveryLimit = deliveryLimit
        self.maxLength = maxLength
        self.overflow = overflow
        self.extraArguments = extraArguments
    }

    /// The `queue.declare` arguments table these options stand for.
    public var arguments: AMQPTable {
        var args = extraArguments
        if type != .classic { args["x-queue-type"] = .string(type.rawValue) }
        if let deadLetterExchange { args["x-dead-letter-exchange"] = .string(deadLetterExchange) }
        if let deadLetterRoutingKey { args["x-dead-letter-routing-key"] = .string(deadLetterRoutingKey) }
        if let messageTTL { args["x-message-ttl"] = .int64(Int64(messageTTL.milliseconds)) }
        if let deliveryLimit { args["x-delivery-limit"] = .int64(Int64(deliveryLimit)) }
        if let maxLength { args["x-max-length"] = .int64(Int64(maxLength)) }
        if let overflow { args["x-overflow"] = .string(overflow.rawValue) }
        return args
    }
}

/// What `queue.declare` answered: the queue's name (the broker picks one for an empty name) and counts.
public struct AMQPQueueState: Sendable, Hashable {
    public let name: String
    /// Messages ready for delivery (not counting unacknowledged ones).
    public let messageCount: Int
    public let consumerCount: Int
}
