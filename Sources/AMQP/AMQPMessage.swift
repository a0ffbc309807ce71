import Foundation

/// The basic-class properties of a message (the AMQP content header).
public struct AMQPProperties: Sendable, Hashable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: AMQPTable?
    /// 2 = persistent (written to disk by durable queues), 1 = transient.
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationID: String?
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (AMQP's own quirk).
    public var expiration: String?
    public var messageID: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    public var type: String?
    public var userID: String?
    public var appID: String?

    public init(contentType: String? = nil, contentEncoding: String? = nil, headers: AMQPTable? = nil,
                deliveryMode: UInt8? = nil, priority: UInt8? = nil, correlationID: String? = nil,
                replyTo: String? = nil, expiration: String? = nil, messageID: String? = nil,
                timestamp: UInt64? = nil, type: String? = nil, userID: String? = nil, appID: String? = nil) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
    }

    /// Persistent JSON, the shape of every ParcelFlow task.
    public static func persistentJSON(messageID: String? = nil, correlationID: String? = nil,
                                      headers: AMQPTable? = nil) -> AMQPProperties {
        AMQPProperties(contentType: "application/json", headers: headers, deliveryMode: 2,
                       correlationID: correlationID, messageID: messageID,
                       timestamp: UInt64(Date().timeIntervalSince1970))
    }
}

/// A message to publish, with where it goes.
public struct AMQPOutboundMessage: Sendable {
    public var exchange: String
    public var routingKey: String
    public var body: Data
    public var properties: AMQPProperties
    /// Ask the broker to return the message if no queue takes it; on a channel with confirms enabled
    /// the publish then fails with ``AMQPError/Code/unroutable`` instead of succeeding silently.
    public var mandatory: Bool

    public init(exchange: String = "", routingKey: String, body: Data, properties: AMQPProperties = AMQPProperties(),
                mandatory: Bool = false) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
    }
}

/// What to do with a delivery: settle it once, by one of these.
public enum AMQPSettlement: Sendable, Hashable {
    case ack
    /// `basic.nack`; with `requeue: false` the message goes to the queue's dead-letter exchange.
    case nack(requeue: Bool)
    /// `basic.reject`; like a single nack.
    case reject(requeue: Bool)
}

/// A message handed to a consumer. Settle it with ``ack()``, ``nack(requeue:)`` or ``reject(requeue:)``.
///
/// A class: a delivery is passed along several steps and held until it is settled, and copying a
/// reference is one retain where copying its fields would be a dozen.
public final class AMQPDelivery: Sendable {
    public let body: Data
    public let properties: AMQPProperties
    public let deliveryTag: UInt64
    /// True when the broker delivered this message before and it was not acknowledged.
    public let redelivered: Bool
    public let exchange: String
    public let routingKey: String
    public let consumerTag: String
    /// The body's size as the broker announced it; larger than `body.count` only when the body was refused.
    public let bodySize: Int
    /// Set when the message broke a limit (``AMQPLimits``): its body or its headers were left out.
    public let refusal: Refusal?
    let channel: ChannelHandle?

    init(body: Data, properties: AMQPProperties, deliveryTag: UInt64, redelivered: Bool, exchange: String,
         routingKey: String, consumerTag: String, channel: ChannelHandle?, bodySize: Int? = nil,
         refusal: Refusal? = nil) {
        self.bodySize = bodySize ?? body.count
        self.refusal = refusal
        self.body = body
        self.properties = properties
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.consumerTag = consumerTag
        self.channel = channel
    }

    /// The message's headers, or an empty table.
    public var headers: AMQPTable { properties.headers ?? [:] }

    /// Why this delivery can no longer be settled (its channel or connection has closed, and the broker
    /// gives it to another consumer), or nil while it can.
    public var settleFailure: AMQPError? {
        guard let channel else { return nil }
        return channel.closedReason ?? channel.driver.closedError
    }

    /// Acknowledge: the broker forgets the message. Contiguous acks are coalesced into one
    /// `multiple` ack on the wire. Throws when the channel is already known to be closed; the broker
    /// then redelivers the message to another consumer.
    public func ack() throws(AMQPError) { try settle(.ack) }

    public func nack(requeue: Bool) throws(AMQPError) { try settle(.nack(requeue: requeue)) }

    public func reject(requeue: Bool) throws(AMQPError) { try settle(.reject(requeue: requeue)) }

    public func settle(_ settlement: AMQPSettlement) throws(AMQPError) {
        guard let channel else {
            throw AMQPError(.invalidArgument, "this delivery was consumed with automatic acknowledgement")
        }
        try channel.settle(deliveryTag, settlement)
    }
}
