import Foundation
internal import CRabbitMQ

// The requests the public API sends to the connection thread. Each runs there, calls rabbitmq-c, and
// turns the reply into a Swift value or an AMQPError. A `channel.close` from the broker in reply to a
// request ends that channel (its consumers and pending publishes fail with the broker's reason); a
// connection-level failure ends the connection.
extension ConnectionLoop {
    // MARK: Publishing and settling (the hot path)

    func publish(_ channelID: UInt16, _ messages: [AMQPOutboundMessage], _ waiter: PublishWaiter) throws(AMQPError) {
        guard let channel = channels[channelID] else {
            waiter.failAll(AMQPError(.closedByApplication, "the channel is closed"))
            return
        }
        let frameMax = Int(amqp_get_frame_max(connection))
        for (index, message) in messages.enumerated() {
            if let problem = message.encodingProblem(frameMax: frameMax) {
                // Nothing was written: this message fails, the connection goes on.
                waiter.complete(index, AMQPError(.invalidArgument, problem, context: "basic.publish to '\(message.exchange)'"))
                continue
            }
            var properties = arena.properties(message.properties)
            let exchange = arena.bytes(message.exchange)
            let routingKey = arena.bytes(message.routingKey)
            let status = message.body.withUnsafeBytes { body in
                amqp_basic_publish(connection, channelID, exchange, routingKey, message.mandatory ? 1 : 0, 0,
                                   &properties, amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
            }
            // rabbitmq-c has written or copied everything by now.
            arena.reset()
            guard CStatus.isOK(status) else {
                let error = CStatus.error(status, "basic.publish to '\(message.exchange)'")
                waiter.complete(from: index, error)
                throw error
            }
            if channel.confirms != nil {
                channel.confirms!.published(
                    (waiter, index), mandatoryRoute: message.mandatory ? (message.exchange, message.routingKey) : nil)
            } else {
                waiter.complete(index, nil)
            }
        }
        lastWrite = ContinuousClock.now
    }

    func flushSettlements() throws(AMQPError) {
        guard !channelsWithSettlements.isEmpty else { return }
        defer { channelsWithSettlements.removeAll(keepingCapacity: true) }
        for channel in channelsWithSettlements where channels[channel.id] === channel {
            let (operations, dropped) = channel.acks.settle(channel.pendingSettlements)
            channel.pendingSettlements.removeAll(keepingCapacity: true)
            if dropped > 0 {
                logger.warning("dropped settlements of unknown or already settled deliveries",
                               metadata: ["amqp.channel": "\(channel.id)", "count": "\(dropped)"])
            }
            for operation in operations {
                switch operation {
                case .ack(let tag, let multiple):
                    try check(amqp_basic_ack(connection, channel.id, tag, multiple ? 1 : 0), "basic.ack")
                case .nack(let tag, let requeue):
                    try check(amqp_basic_nack(connection, channel.id, tag, 0, requeue ? 1 : 0), "basic.nack")
                case .reject(let tag, let requeue):
                    try check(amqp_basic_reject(connection, channel.id, tag, requeue ? 1 : 0), "basic.reject")
                }
            }
        }
    }

    // MARK: Synchronous requests

    /// Checks the reply of the request just made on `channel`.
    func checkReply(_ channel: ChannelState?, _ context: @autoclosure () -> String) throws(AMQPError) {
        try checkReply(amqp_get_rpc_reply(connection), channel, context())
    }

    func checkReply(_ reply: amqp_rpc_reply_t, _ channel: ChannelState?, _ context: @autoclosure () -> String) throws(AMQPError) {
        guard let error = CStatus.error(reply, context()) else {
            lastWrite = ContinuousClock.now
            return
        }
        switch error.code {
        case .channelClosedByBroker:
            if let channel {
                try sendChannelCloseOK(channel.id)
                endChannel(channel, error)
            }
        case .connectionClosedByBroker:
            var ok = amqp_connection_close_ok_t()
            _ = amqp_send_method(connection, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok)
        default:
            break
        }
        throw error
    }

    func openChannel() throws(AMQPError) -> ChannelHandle {
        let id = try allocateChannelID()
        amqp_channel_open(connection, id)
        try checkReply(nil, "channel.open")
        let handle = ChannelHandle(id: id, driver: driver)
        channels[id] = ChannelState(id: id, handle: handle)
        return handle
    }

    func closeChannel(_ handle: ChannelHandle) throws(AMQPError) {
        guard let channel = channels[handle.id], channel.handle === handle else { return }
        try flushSettlements()
        let reply = amqp_channel_close(connection, handle.id, AMQP_REPLY_SUCCESS)
        endChannel(channel, AMQPError(.closedByApplication, "the channel was closed by the application"))
        if let error = CStatus.error(reply, "channel.close"), error.isConnectionLevel { throw error }
    }

    func enableConfirms(_ handle: ChannelHandle) throws(AMQPError) {
        let channel = try self.channel(handle)
        guard channel.confirms == nil else { return }
        amqp_confirm_select(connection, channel.id)
        try checkReply(channel, "confirm.select")
        channel.confirms = ConfirmTracker()
    }

    func setPrefetch(_ handle: ChannelHandle, _ count: UInt16, global: Bool) throws(AMQPError) {
        let channel = try self.channel(handle)
        amqp_basic_qos(connection, channel.id, 0, count, global ? 1 : 0)
        try checkReply(channel, "basic.qos \(count)")
    }

    func declareExchange(_ handle: ChannelHandle, _ name: String, type: String, passive: Bool, durable: Bool,
                         autoDelete: Bool, isInternal: Bool, arguments: AMQPTable) throws(AMQPError) {
        let channel = try self.channel(handle)
        defer { arena.reset() }
        amqp_exchange_declare(connection, channel.id, arena.bytes(name), arena.bytes(type), passive ? 1 : 0,
                              durable ? 1 : 0, autoDelete ? 1 : 0, isInternal ? 1 : 0, arena.table(arguments))
        try checkReply(channel, "exchange.declare '\(name)'")
    }

    func deleteExchange(_ handle: ChannelHandle, _ name: String, ifUnused: Bool) throws(AMQPError) {
        let channel = try self.channel(handle)
        defer { arena.reset() }
        amqp_exchange_delete(connection, channel.id, arena.bytes(name), ifUnused ? 1 : 0)
        try checkReply(channel, "exchange.delete '\(name)'")
    }

    func declareQueue(_ handle: ChannelHandle, _ name: String, options: AMQPQueueOptions,
                      passive: Bool) throws(AMQPError) -> AMQPQueueState {
        let channel = try self.channel(handle)
        defer { arena.reset() }
        let ok = amqp_queue_declare(connection, channel.id, arena.bytes(name), passive ? 1 : 0, options.durable ? 1 : 0,
                                    options.exclusive ? 1 : 0, options.autoDelete ? 1 : 0,
                                    passive ? amqp_table_t() : arena.table(options.arguments))
        try checkReply(channel, "queue.declare '\(name)'")
        let state = ok!.pointee
        return AMQPQueueState(name: state.queue.string, messageCount: Int(state.message_count),
                              consumerCount: Int(state.consumer_count))
    }

    func deleteQueue(_ handle: ChannelHandle, _ name: String, ifUnused: Bool, ifEmpty: Bool) throws(AMQPError) -> Int {
        let channel = try self.channel(handle)
        defer { arena.reset() }
        let ok = amqp_queue_delete(connection, channel.id, arena.bytes(name), ifUnused ? 1 : 0, ifEmpty ? 1 : 0)
        try checkReply(channel, "queue.delete '\(name)'")
        return Int(ok!.pointee.message_count)
    }

    func purgeQueue(_ handle: ChannelHandle, _ name: String) throws(AMQPError) -> Int {
        let channel = try self.channel(handle)
        defer { arena.reset() }
        let ok = amqp_queue_purge(connection, channel.id, arena.bytes(name))
        try checkReply(channel, "queue.purge '\(name)'")
        return Int(ok!.pointee.message_count)
    }

    func bindQueue(_ handle: ChannelHandle, _ queue: String, exchange: String, routingKey: String,
                   arguments: AMQPTable) throws(AMQPError) {
        let channel = try self.channel(handle)
        defer { arena.reset() }
        amqp_queue_bind(connection, channel.id, arena.bytes(queue), arena.bytes(exchange),
                        arena.bytes(routingKey), arena.table(arguments))
        try checkReply(channel, "queue.bind '\(queue)' to '\(exchange)' with '\(routingKey)'")
    }

    func consume(_ handle: ChannelHandle, queue: String, tag: String, exclusive: Bool, autoAck: Bool,
                 arguments: AMQPTable, maxBodySize: Int) throws(AMQPError) -> (tag: String, buffer: DeliveryBuffer) {
        let channel = try self.channel(handle)
        defer { arena.reset() }
        let ok = amqp_basic_consume(connection, channel.id, arena.bytes(queue), arena.bytes(tag), 0, autoAck ? 1 : 0,
                                    exclusive ? 1 : 0, arena.table(arguments))
        try checkReply(channel, "basic.consume '\(queue)'")
        let consumerTag = ok!.pointee.consumer_tag.string
        let buffer = DeliveryBuffer()
        channel.consumers[consumerTag] = ConsumerState(tag: consumerTag, buffer: buffer, autoAck: autoAck,
                                                     maxBodySize: maxBodySize)
        return (consumerTag, buffer)
    }

    func cancel(_ handle: ChannelHandle, consumerTag: String) throws(AMQPError) {
        guard let channel = channels[handle.id], channel.handle === handle,
            let consumer = channel.consumers[consumerTag] else { return }
        defer { arena.reset() }
        amqp_basic_cancel(connection, channel.id, arena.bytes(consumerTag))
        try checkReply(channel, "basic.cancel '\(consumerTag)'")
        // Deliveries that crossed the cancel on the wire still belong to this consumer.
        try dispatchQueuedFrames()
        handOverDeliveries()
        channel.consumers[consumerTag] = nil
        if channel.lastConsumer === consumer { channel.lastConsumer = nil }
        consumer.buffer.finish(nil)
    }

    func get(_ handle: ChannelHandle, queue: String, autoAck: Bool, maxBodySize: Int) throws(AMQPError) -> AMQPDelivery? {
        let channel = try self.channel(handle)
        defer { arena.reset() }
        let reply = amqp_basic_get(connection, channel.id, arena.bytes(queue), autoAck ? 1 : 0)
        try checkReply(reply, channel, "basic.get '\(queue)'")
        guard reply.reply.id == AMQP_BASIC_GET_OK_METHOD else { return nil }
        let ok = reply.reply.decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        let incoming = IncomingContent(
            kind: .got(deliveryTag: ok.delivery_tag, redelivered: ok.redelivered != 0, autoAck: autoAck),
            exchange: ok.exchange.string, routingKey: ok.routing_key.string, maxBodySize: maxBodySize)
        // Frames queued during the request came before get-ok (confirms, other deliveries): handle them
        // first. The message's own header and body follow get-ok on the wire, so they are read through
        // the same assembly as deliveries — never with amqp_read_message, which would take whatever
        // frame of this channel was queued first.
        try dispatchQueuedFrames()
        channel.incoming = incoming
        var timeout = timeval(milliseconds: requestTimeoutMilliseconds)
        var frame = amqp_frame_t()
        while channel.gotDelivery == nil {
            guard channels[channel.id] === channel else { throw closedReason(handle) }
            let status = amqp_simple_wait_frame_noblock(connection, &frame, &timeout)
            guard CStatus.isOK(status) else { throw CStatus.error(status, "reading the message from '\(queue)'") }
            try dispatch(frame)
        }
        handOverDeliveries()
        defer { channel.gotDelivery = nil }
        return channel.gotDelivery
    }
}
