import Foundation
internal import CRabbitMQ

extension ConnectionLoop {
    /// Reads and handles every frame that has arrived, then hands consumers their batches.
    func readFrames() throws(AMQPError) {
        // A 1 µs deadline instead of 0: with zero rabbitmq-c never checks the receive-heartbeat deadline.
        var timeout = timeval(tv_sec: 0, tv_usec: 1)
        var frame = amqp_frame_t()
        // Bounded, so that a flood of deliveries still lets queued acks and publishes out.
        for _ in 0..<2048 {
            let status = amqp_simple_wait_frame_noblock(connection, &frame, &timeout)
            if status == AMQP_STATUS_TIMEOUT.rawValue { break }
            guard CStatus.isOK(status) else { throw CStatus.error(status, "reading from the broker") }
            try dispatch(frame)
        }
        handOverDeliveries()
        amqp_maybe_release_buffers(connection)
    }

    /// Handles the frames rabbitmq-c queued while a synchronous request waited for its reply.
    func dispatchQueuedFrames() throws(AMQPError) {
        var frame = amqp_frame_t()
        var timeout = timeval(tv_sec: 0, tv_usec: 1)
        while amqp_frames_enqueued(connection) != 0 {
            let status = amqp_simple_wait_frame_noblock(connection, &frame, &timeout)
            guard CStatus.isOK(status) else { throw CStatus.error(status, "reading from the broker") }
            try dispatch(frame)
        }
    }

    /// Body frames larger than this release their channel's pool at once.
    static let largeFragment = 16 * 1024

    func handOverDeliveries() {
        guard !consumersWithDeliveries.isEmpty else { return }
        for consumer in consumersWithDeliveries {
            consumer.buffer.append(consumer.batch)
            consumer.batch.removeAll(keepingCapacity: true)
        }
        consumersWithDeliveries.removeAll(keepingCapacity: true)
    }

    func dispatch(_ frame: amqp_frame_t) throws(AMQPError) {
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            try handleMethod(frame.channel, frame.payload.method)
        case AMQP_FRAME_HEADER:
            guard let channel = channels[frame.channel], channel.incoming != nil else { return }
            let header = frame.payload.properties
            // The announced size decides, before a byte of the body is held.
            guard let bodySize = Int(exactly: header.body_size) else {
                throw AMQPError(.protocolError, "the broker announced a body of \(header.body_size) bytes")
            }
            let properties = header.decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee
            let (decoded, headersRefused) = CDecode.properties(properties)
            let limit = channel.incoming!.maxBodySize
            channel.incoming!.properties = decoded
            channel.incoming!.bodySize = bodySize
            if bodySize > limit {
                channel.incoming!.refusal = .bodyTooLarge(size: bodySize, limit: limit)
            } else {
                channel.incoming!.refusal = headersRefused
                channel.incoming!.body.reserveCapacity(bodySize)
            }
            if bodySize == 0 { complete(channel) }
        case AMQP_FRAME_BODY:
            guard let channel = channels[frame.channel], channel.incoming != nil else { return }
            let fragment = frame.payload.body_fragment
            channel.incoming!.received += fragment.len
            if let bytes = fragment.bytes, fragment.len > 0, channel.incoming!.keepsBody {
                channel.incoming!.body.append(bytes.assumingMemoryBound(to: UInt8.self), count: fragment.len)
            }
            if channel.incoming!.received >= channel.incoming!.bodySize { complete(channel) }
            // A large body comes in frames of up to frame-max bytes, each in the channel's pool: give
            // the memory back now, not after the whole burst of frames (which may be the whole body).
            if fragment.len > Self.largeFragment { amqp_maybe_release_buffers_on_channel(connection, frame.channel) }
        default:
            break  // heartbeats are answered inside rabbitmq-c
        }
    }

    private func handleMethod(_ channelID: UInt16, _ method: amqp_method_t) throws(AMQPError) {
        let decoded = method.decoded
        switch method.id {
        case AMQP_BASIC_DELIVER_METHOD:
            guard let channel = channels[channelID] else { return }
            let deliver = decoded!.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            let target = consumer(channel, deliver.consumer_tag)
            channel.incoming = IncomingContent(
                kind: .delivery(consumer: target, deliveryTag: deliver.delivery_tag, redelivered: deliver.redelivered != 0),
                exchange: channel.lastExchange.string(deliver.exchange),
                routingKey: channel.lastRoutingKey.string(deliver.routing_key),
                maxBodySize: target?.maxBodySize ?? 0)
        case AMQP_BASIC_RETURN_METHOD:
            guard let channel = channels[channelID] else { return }
            let returned = decoded!.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            channel.incoming = IncomingContent(
                kind: .returned(replyCode: returned.reply_code, replyText: returned.reply_text.string),
                exchange: returned.exchange.string, routingKey: returned.routing_key.string,
                maxBodySize: 0)  // only where it was going matters
        case AMQP_BASIC_ACK_METHOD:
            let ack = decoded!.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            channels[channelID]?.confirms?.acknowledged(upTo: ack.delivery_tag, multiple: ack.multiple != 0) {
                $0.waiter.complete($0.index, $1)
            }
        case AMQP_BASIC_NACK_METHOD:
            let nack = decoded!.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            channels[channelID]?.confirms?.rejected(upTo: nack.delivery_tag, multiple: nack.multiple != 0) {
                $0.waiter.complete($0.index, $1)
            }
        case AMQP_BASIC_CANCEL_METHOD:
            // The broker cancelled a consumer: its queue was deleted, or its node went away.
            guard let channel = channels[channelID] else { return }
            let cancel = decoded!.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            let tag = cancel.consumer_tag.string
            if let consumer = channel.consumers.removeValue(forKey: tag) {
                handOverDeliveries()
                consumer.buffer.finish(AMQPError(
                    .consumerCancelled, "the broker cancelled consumer '\(tag)' (was its queue deleted?)"))
                if channel.lastConsumer === consumer { channel.lastConsumer = nil }
            }
        case AMQP_CHANNEL_CLOSE_METHOD:
            let error = CStatus.serverError(method, "channel \(channelID)")
            logger.warning("the broker closed a channel", metadata: ["amqp.channel": "\(channelID)", "error": "\(error)"])
            try sendChannelCloseOK(channelID)
            if let channel = channels[channelID] { endChannel(channel, error) }
        case AMQP_CONNECTION_CLOSE_METHOD:
            let error = CStatus.serverError(method, "connection")
            var ok = amqp_connection_close_ok_t()
            _ = amqp_send_method(connection, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok)
            throw error
        case AMQP_CONNECTION_BLOCKED_METHOD:
            let blocked = decoded!.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            // The broker's words, but bounded: it is still bytes from the network.
            let reason = String(blocked.reason.string.prefix(200))
            driver.setBlocked(since: .now)
            logger.warning("the broker blocked publishing on this connection; publishes wait until it unblocks",
                           metadata: ["amqp.endpoint": "\(endpoint)", "reason": "\(reason)"])
            blockedChanged?(reason)
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            let since = driver.setBlocked(since: nil)
            logger.notice("the broker unblocked publishing on this connection", metadata: [
                "amqp.endpoint": "\(endpoint)",
                "blocked_ms": "\(since.map { (ContinuousClock.now - $0).milliseconds } ?? 0)"])
            blockedChanged?(nil)
        case AMQP_CHANNEL_FLOW_METHOD:
            let flow = decoded!.assumingMemoryBound(to: amqp_channel_flow_t.self).pointee
            var ok = amqp_channel_flow_ok_t(active: flow.active)
            try check(amqp_send_method(connection, channelID, AMQP_CHANNEL_FLOW_OK_METHOD, &ok), "channel.flow-ok")
        default:
            logger.debug("ignored an unexpected method", metadata: [
                "amqp.channel": "\(channelID)", "amqp.method": "\(String(method.id, radix: 16))"])
        }
    }

    func sendChannelCloseOK(_ channelID: UInt16) throws(AMQPError) {
        var ok = amqp_channel_close_ok_t(dummy: 0)
        try check(amqp_send_method(connection, channelID, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok), "channel.close-ok")
    }

    /// The consumer a delivery is for, found without building a String in the common case.
    private func consumer(_ channel: ChannelState, _ tag: amqp_bytes_t) -> ConsumerState? {
        if let last = channel.lastConsumer, channel.lastConsumerTag.count == tag.len,
            channel.lastConsumerTag.withUnsafeBytes({ memcmp($0.baseAddress!, tag.bytes, tag.len) == 0 }) {
            return last
        }
        let found = channel.consumers[tag.string]
        channel.lastConsumer = found
        channel.lastConsumerTag = found == nil ? [] : tag.byteArray
        return found
    }

    private func complete(_ channel: ChannelState) {
        guard let incoming = channel.incoming else { return }
        channel.incoming = nil
        switch incoming.kind {
        case .delivery(let consumer, let deliveryTag, let redelivered):
            guard let consumer, channel.consumers[consumer.tag] === consumer else {
                // Its consumer was cancelled while the message was on the way: give it back to the queue.
                _ = amqp_basic_reject(connection, channel.id, deliveryTag, 1)
                return
            }
            if !consumer.autoAck { channel.acks.delivered(deliveryTag) }
            consumer.batch.append(AMQPDelivery(
                body: incoming.body, properties: incoming.properties, deliveryTag: deliveryTag,
                redelivered: redelivered, exchange: incoming.exchange, routingKey: incoming.routingKey,
                consumerTag: consumer.tag, channel: consumer.autoAck ? nil : channel.handle,
                bodySize: incoming.bodySize, refusal: incoming.refusal))
            if consumer.batch.count == 1 { consumersWithDeliveries.append(consumer) }
        case .got(let deliveryTag, let redelivered, let autoAck):
            if !autoAck { channel.acks.delivered(deliveryTag) }
            channel.gotDelivery = AMQPDelivery(
                body: incoming.body, properties: incoming.properties, deliveryTag: deliveryTag, redelivered: redelivered,
                exchange: incoming.exchange, routingKey: incoming.routingKey, consumerTag: "",
                channel: autoAck ? nil : channel.handle, bodySize: incoming.bodySize, refusal: incoming.refusal)
        case .returned(let replyCode, let replyText):
            let error = AMQPError(.unroutable,
                                  "\(replyText): no queue is bound to exchange '\(incoming.exchange)' "
                                      + "with routing key '\(incoming.routingKey)'", replyCode: replyCode)
            if channel.confirms?.returned(exchange: incoming.exchange, routingKey: incoming.routingKey, error: error) != true {
                logger.warning("the broker returned an unroutable message", metadata: ["error": "\(error)"])
            }
        }
    }
}
