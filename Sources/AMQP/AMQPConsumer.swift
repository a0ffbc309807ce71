/// The deliveries of one consumer, as an async sequence.
///
/// Iteration ends (returns nil) after ``cancel()`` once the deliveries already received are handed
/// out, when the channel or connection is closed by the application, or when the iterating task is
/// cancelled. It throws when the broker cancels the consumer (its queue was deleted:
/// ``AMQPError/Code/consumerCancelled``) or the channel or connection fails.
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery
    public typealias Failure = AMQPError

    public let channel: AMQPChannel
    /// The consumer tag, chosen by the broker unless given.
    public let tag: String
    let buffer: DeliveryBuffer

    init(channel: AMQPChannel, tag: String, buffer: DeliveryBuffer) {
        self.channel = channel
        self.tag = tag
        self.buffer = buffer
    }

    /// Stops deliveries (`basic.cancel`). Deliveries already received are still handed out and must
    /// still be settled.
    public func cancel() async throws(AMQPError) {
        try await channel.cancel(consumerTag: tag)
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(buffer: buffer)
    }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = AMQPDelivery
        public typealias Failure = AMQPError

        let buffer: DeliveryBuffer
        private var batch: [AMQPDelivery] = []
        private var index = 0

        init(buffer: DeliveryBuffer) {
            self.buffer = buffer
        }

        public mutating func next() async throws(AMQPError) -> AMQPDelivery? {
            if index == batch.count {
                guard let next = try await buffer.next() else { return nil }
                batch = next
                index = 0
            }
            defer { index += 1 }
            return batch[index]
        }

        /// Everything already received, at once (at least one delivery); nil when the stream ended.
        /// For consumers that work in batches.
        public mutating func nextBatch() async throws(AMQPError) -> [AMQPDelivery]? {
            if index < batch.count {
                defer { batch = []; index = 0 }
                return Array(batch[index...])
            }
            return try await buffer.next()
        }
    }
}
