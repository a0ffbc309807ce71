import Foundation

/// An AMQP channel: declare topology, publish, consume.
///
/// A channel that the broker closes (PRECONDITION_FAILED, NOT_FOUND, ACCESS_REFUSED…) stays closed:
/// every later call throws the broker's reason; open a new one. Cheap to copy; all copies are the same
/// channel.
public struct AMQPChannel: Sendable {
    public let connection: AMQPConnection
    let handle: ChannelHandle

    init(connection: AMQPConnection, handle: ChannelHandle) {
        self.connection = connection
        self.handle = handle
    }

    /// Why the channel closed, or nil while it is open.
    public var closedReason: AMQPError? { handle.closedReason ?? connection.driver.closedError }

    private func perform<T: Sendable>(_ body: @escaping @Sendable (ConnectionLoop, ChannelHandle) throws(AMQPError) -> T) async throws(AMQPError) -> T {
        let handle = self.handle
        return try await connection.driver.perform { loop throws(AMQPError) in try body(loop, handle) }
    }

    // MARK: Topology

    public func declareExchange(_ name: String, type: AMQPExchangeType, durable: Bool = true, autoDelete: Bool = false,
                                internal: Bool = false, arguments: AMQPTable = [:]) async throws(AMQPError) {
        try await perform { loop, handle throws(AMQPError) in
            try loop.declareExchange(handle, name, type: type.rawValue, passive: false, durable: durable,
                                     autoDelete: autoDelete, isInternal: `internal`, arguments: arguments)
        }
    }

    /// Checks that an exchange exists (a passive declare); throws NOT_FOUND otherwise, closing the channel.
    public func checkExchange(_ name: String) async throws(AMQPError) {
        try await perform { loop, handle throws(AMQPError) in
            try loop.declareExchange(handle, name, type: "", passive: true, durable: false, autoDelete: false,
                                     isInternal: false, arguments: [:])
        }
    }

    public func deleteExchange(_ name: String, ifUnused: Bool = false) async throws(AMQPError) {
        try await perform { loop, handle throws(AMQPError) in try loop.deleteExchange(handle, name, ifUnused: ifUnused) }
    }

    /// Declares a queue, or checks that an existing one has the same options. Re-declaring with other
    /// arguments throws PRECONDITION_FAILED with the broker's text and closes the channel.
    @discardableResult
    public func declareQueue(_ name: String, options: AMQPQueueOptions = AMQPQueueOptions()) async throws(AMQPError) -> AMQPQueueState {
        try await perform { loop, handle throws(AMQPError) in
            try loop.declareQueue(handle, name, options: options, passive: false)
        }
    }

    /// Message and consumer counts of an existing queue (a passive declare). Throws NOT_FOUND, closing
    /// the channel, when there is no such queue.
    public func queueState(_ name: String) async throws(AMQPError) -> AMQPQueueState {
        try await perform { loop, handle throws(AMQPError) in
            try loop.declareQueue(handle, name, options: AMQPQueueOptions(), passive: true)
        }
    }

    /// Deletes a queue; returns how many messages it held.
    @discardableResult
    public func deleteQueue(_ name: String, ifUnused: Bool = false, ifEmpty: Bool = false) async throws(AMQPError) -> Int {
        try await perform { loop, handle throws(AMQPError) in
            try loop.deleteQueue(handle, name, ifUnused: ifUnused, ifEmpty: ifEmpty)
        }
    }

    /// Removes every ready message from a queue; returns how many.
    @discardableResult
    public func purgeQueue(_ name: String) async throws(AMQPError) -> Int {
        try await perform { loop, handle throws(AMQPError) in try loop.purgeQueue(handle, name) }
    }

    public func bindQueue(_ queue: String, exchange: String, routingKey: String, arguments: AMQPTable = [:]) async throws(AMQPError) {
        try await perform { loop, handle throws(AMQPError) in
            try loop.bindQueue(handle, queue, exchange: exchange, routingKey: routingKey, arguments: arguments)
        }
    }

    // MARK: Publishing

    /// Turns on publisher confirms: from now on a publish returns only once the broker has taken
    /// responsibility for the message (`basic.ack`), and fails on `basic.nack` or `basic.return`.
    public func enableConfirms() async throws(AMQPError) {
        try await perform { loop, handle throws(AMQPError) in try loop.enableConfirms(handle) }
    }

    /// Publishes one message. With confirms on, waits for the broker's confirm; a `mandatory` message
    /// that no queue takes throws ``AMQPError/Code/unroutable``.
    public func publish(_ message: AMQPOutboundMessage) async throws(AMQPError) {
        if let error = await publish(contentsOf: [message]).first ?? nil { throw error }
    }

    /// Publishes many messages in one hand-over to the connection thread and waits until all are
    /// settled. Returns one entry per message: nil when confirmed (or written, without confirms), else
    /// why it failed. Several calls may be in flight at once; their confirms pipeline.
    public func publish(contentsOf messages: [AMQPOutboundMessage]) async -> [AMQPError?] {
        let channelID = handle.id
        let driver = connection.driver
        if let reason = handle.closedReason { return Array(repeating: reason, count: messages.count) }
        return await withCheckedContinuation { continuation in
            let waiter = PublishWaiter(count: messages.count, continuation: continuation)
            guard !messages.isEmpty else { return }
            driver.submit(.publish(channel: channelID, messages: messages, waiter: waiter))
        }
    }

    // MARK: Consuming

    /// Limits unacknowledged deliveries to this consumer's channel (`basic.qos`).
    public func setPrefetch(_ count: UInt16, global: Bool = false) async throws(AMQPError) {
        try await perform { loop, handle throws(AMQPError) in try loop.setPrefetch(handle, count, global: global) }
    }

    /// Starts a consumer. Iterate the result to receive deliveries; settle each one unless `autoAck`.
    /// Deliveries whose announced body is larger than `maxBodySize` are never assembled: they arrive
    /// without a body, with ``AMQPDelivery/refusal`` saying why, and must still be settled.
    public func consume(queue: String, consumerTag: String = "", exclusive: Bool = false, autoAck: Bool = false,
                        arguments: AMQPTable = [:],
                        maxBodySize: Int = AMQPLimits.defaultMaxBodySize) async throws(AMQPError) -> AMQPConsumer {
        let (tag, buffer) = try await perform { loop, handle throws(AMQPError) in
            try loop.consume(handle, queue: queue, tag: consumerTag, exclusive: exclusive, autoAck: autoAck,
                             arguments: arguments, maxBodySize: maxBodySize)
        }
        return AMQPConsumer(channel: self, tag: tag, buffer: buffer)
    }

    /// Takes one message from a queue if there is one (`basic.get`); a body larger than `maxBodySize`
    /// is refused as by ``consume(queue:consumerTag:exclusive:autoAck:arguments:maxBodySize:)``.
    public func get(queue: String, autoAck: Bool = false,
                    maxBodySize: Int = AMQPLimits.defaultMaxBodySize) async throws(AMQPError) -> AMQPDelivery? {
        try await perform { loop, handle throws(AMQPError) in
            try loop.get(handle, queue: queue, autoAck: autoAck, maxBodySize: maxBodySize)
        }
    }

    func cancel(consumerTag: String) async throws(AMQPError) {
        try await perform { loop, handle throws(AMQPError) in try loop.cancel(handle, consumerTag: consumerTag) }
    }

    /// Closes the channel; unacknowledged deliveries go back to their queues.
    public func close() async {
        _ = try? await perform { loop, handle throws(AMQPError) in try loop.closeChannel(handle) }
    }
}
