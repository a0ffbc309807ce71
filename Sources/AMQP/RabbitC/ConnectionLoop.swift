import Foundation
import Logging
internal import CRabbitMQ

/// The connection's own thread: the only code that calls rabbitmq-c for this connection.
///
/// Each pass of the loop (1) drains the inbox — publishes, settlements, requests — writing frames as it
/// goes, with contiguous acks coalesced into one; (2) sleeps in `poll` on the socket and the wake-up
/// eventfd, unless rabbitmq-c already holds unread data; (3) reads every frame that has arrived,
/// resolving confirms and batching deliveries per consumer; (4) hands each consumer its batch in one
/// step. An ack or publish therefore never waits behind a read timeout: it wakes the thread at once.
///
/// Everything here is confined to that thread; nothing in it is Sendable.
final class ConnectionLoop {
    let driver: ConnectionDriver
    let connection: amqp_connection_state_t
    let endpoint: AMQPEndpoint
    let logger: Logger
    let socketFD: Int32
    let heartbeatSeconds: Int
    let channelMax: UInt16
    let requestTimeoutMilliseconds: Int
    let blockedChanged: (@Sendable (String?) -> Void)?
    let arena = CArena()
    var channels: [UInt16: ChannelState] = [:]
    private var nextChannelID: UInt16 = 1
    /// Channels with settlements waiting for the end of the current inbox run.
    var channelsWithSettlements: [ChannelState] = []
    /// Consumers whose batch holds deliveries not yet handed over.
    var consumersWithDeliveries: [ConsumerState] = []
    /// Set by an orderly close; ends the loop.
    var stopReason: AMQPError?
    /// Commands taken from the inbox but not run when a fatal error struck.
    private var unexecuted: [ConnectionDriver.Command] = []
    var lastWrite = ContinuousClock.now

    private init(driver: ConnectionDriver, connection: amqp_connection_state_t, endpoint: AMQPEndpoint,
                 configuration: AMQPConfiguration) {
        self.driver = driver
        self.requestTimeoutMilliseconds = configuration.requestTimeout.milliseconds
        self.blockedChanged = configuration.blockedChanged
        self.connection = connection
        self.endpoint = endpoint
        self.logger = driver.logger
        self.socketFD = amqp_get_sockfd(connection)
        self.heartbeatSeconds = Int(amqp_get_heartbeat(connection))
        let max = amqp_get_channel_max(connection)
        self.channelMax = max > 0 && max <= Int32(UInt16.max) ? UInt16(max) : UInt16.max
    }

    /// What the caller of `connect` learns once the handshake is done.
    struct Established: Sendable {
        let endpoint: AMQPEndpoint
        let heartbeatSeconds: Int
        let frameMax: Int
        let channelMax: Int
        let brokerVersion: String?
    }

    /// Starts the thread, connects to the first endpoint that accepts, then serves until the end.
    static func start(driver: ConnectionDriver, configuration: AMQPConfiguration,
                      connected: CheckedContinuation<Established, any Error>) {
        let thread = Thread {
            let loop: ConnectionLoop
            do throws(AMQPError) {
                loop = try connectFirst(driver: driver, configuration: configuration)
            } catch {
                _ = driver.markClosed(error)
                driver.markFinished(error)
                connected.resume(throwing: error)
                return
            }
            let serverProperties = CDecode.table(amqp_get_server_properties(loop.connection).pointee)
            connected.resume(returning: Established(
                endpoint: loop.endpoint, heartbeatSeconds: loop.heartbeatSeconds,
                frameMax: Int(amqp_get_frame_max(loop.connection)), channelMax: Int(loop.channelMax),
                brokerVersion: serverProperties["version"]?.stringValue))
            loop.run()
        }
        thread.name = "amqp:\(configuration.connectionName)"
        thread.stackSize = stackSize(frameMax: configuration.boundedFrameMax)
        thread.start()
    }

    /// rabbitmq-c decodes a content header's tables by recursion before any of our code sees them:
    /// measured at up to 150 bytes of stack per level, and a level takes at least 6 bytes of a frame
    /// (5 for arrays, at about 64 bytes of stack). 32 bytes of stack per byte of the largest frame
    /// covers the deepest header a broker can send, with room to spare.
    static func stackSize(frameMax: Int) -> Int { (1 << 20) + 32 * frameMax }

    private static func connectFirst(driver: ConnectionDriver, configuration: AMQPConfiguration) throws(AMQPError) -> ConnectionLoop {
        var failures: [AMQPError] = []
        let endpoints = EndpointOrder.shared.order(configuration.endpoints, configuration.endpointSelection)
        for (index, endpoint) in endpoints.enumerated() {
            do {
                let connection = try open(endpoint, configuration)
                EndpointOrder.shared.succeeded(endpoint)
                driver.logger.info("AMQP connection open", metadata: [
                    "amqp.endpoint": "\(endpoint)", "amqp.connection_name": "\(configuration.connectionName)"])
                return ConnectionLoop(driver: driver, connection: connection, endpoint: endpoint,
                                      configuration: configuration)
            } catch {
                if error.code != .authenticationFailed { EndpointOrder.shared.failed(endpoint) }
                // The caller gets the error; a warning only when another node is tried next.
                let more = index + 1 < endpoints.count
                driver.logger.log(level: more ? .warning : .debug, "AMQP connect failed",
                                  metadata: ["error": "\(error)"])
                failures.append(error)
            }
        }
        guard failures.count > 1 else {
            throw failures.first ?? AMQPError(.invalidArgument, "no broker endpoint configured")
        }
        // Several nodes, all failed: keep the first kind, list every reason.
        var combined = failures[0]
        combined.context = "connecting to \(failures.count) brokers"
        combined.message = failures.map(\.description).joined(separator: "; ")
        throw combined
    }

    // MARK: - The loop

    private func run() {
        var reason: AMQPError
        do throws(AMQPError) {
            while true {
                try execute(driver.takeCommands())
                if let stopReason {
                    reason = stopReason
                    break
                }
                waitForInput()
                try readFrames()
                try sendHeartbeatIfIdle()
            }
        } catch {
            reason = error
            // The next connects of this process try the other nodes first.
            EndpointOrder.shared.failed(endpoint)
            logger.warning("AMQP connection lost", metadata: ["amqp.endpoint": "\(endpoint)", "error": "\(error)"])
        }
        shutdown(reason)
    }

    private func execute(_ commands: [ConnectionDriver.Command]) throws(AMQPError) {
        // Publishes and acks written together leave together: full segments instead of a packet (and
        // a wake-up of the broker) each. A request that waits for its reply is sent uncorked.
        var corked = false
        func cork(_ on: Bool) {
            guard corked != on else { return }
            CRabbitMQ_set_cork(socketFD, on ? 1 : 0)
            corked = on
        }
        defer { cork(false) }
        for (index, command) in commands.enumerated() {
            do throws(AMQPError) {
                switch command {
                case .settle(let channelID, let tag, let settlement):
                    guard let channel = channels[channelID] else { continue }
                    if channel.pendingSettlements.isEmpty { channelsWithSettlements.append(channel) }
                    channel.pendingSettlements.append((tag, settlement))
                case .publish(let channelID, let messages, let waiter):
                    cork(true)
                    try flushSettlements()
                    try publish(channelID, messages, waiter)
                case .perform(let run, _):
                    cork(true)
                    try flushSettlements()
                    cork(false)
                    if let fatal = run(self) { throw fatal }
                }
            } catch {
                unexecuted = Array(commands[(index + 1)...])
                throw error
            }
            if stopReason != nil {
                unexecuted = Array(commands[(index + 1)...])
                return
            }
        }
        cork(true)
        try flushSettlements()
    }

    private func waitForInput() {
        if amqp_frames_enqueued(connection) != 0 || amqp_data_in_buffer(connection) != 0 { return }
        var fds = (pollfd(fd: socketFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: driver.wakeFD, events: Int16(POLLIN), revents: 0))
        // Wake often enough to send and check heartbeats on an idle connection.
        let timeout = heartbeatSeconds > 0 ? min(max(heartbeatSeconds * 250, 50), 1000) : 1000
        withUnsafeMutableBytes(of: &fds) { raw in
            _ = poll(raw.baseAddress!.assumingMemoryBound(to: pollfd.self), 2, Int32(timeout))
        }
    }

    private func sendHeartbeatIfIdle() throws(AMQPError) {
        guard heartbeatSeconds > 0,
            ContinuousClock.now - lastWrite > .milliseconds(heartbeatSeconds * 500) else { return }
        // rabbitmq-c sends heartbeats only while waiting for input with an empty buffer; a connection
        // that never runs dry (a busy auto-ack consumer) would otherwise look dead to the broker.
        var frame = amqp_frame_t()
        frame.frame_type = UInt8(AMQP_FRAME_HEARTBEAT)
        frame.channel = 0
        try check(amqp_send_frame(connection, &frame), "sending a heartbeat")
    }

    func check(_ status: Int32, _ context: @autoclosure () -> String) throws(AMQPError) {
        guard CStatus.isOK(status) else { throw CStatus.error(status, context()) }
        lastWrite = ContinuousClock.now
    }

    // MARK: - Ending

    /// An orderly close requested by the application: `connection.close`, then the loop ends.
    func closeByApplication() {
        let reply = amqp_connection_close(connection, AMQP_REPLY_SUCCESS)
        if let error = CStatus.error(reply, "connection.close") {
            logger.debug("connection.close did not complete cleanly", metadata: ["error": "\(error)"])
        }
        stopReason = AMQPError(.closedByApplication, "the connection was closed by the application")
    }

    private func shutdown(_ reason: AMQPError) {
        let leftover = unexecuted + driver.markClosed(reason)
        unexecuted = []
        for command in leftover { command.fail(reason) }
        for channel in channels.values { endChannel(channel, reason) }
        channels = [:]
        amqp_destroy_connection(connection)
        driver.markFinished(reason.code == .closedByApplication ? nil : reason)
        logger.info("AMQP connection closed", metadata: ["amqp.endpoint": "\(endpoint)", "amqp.reason": "\(reason)"])
    }

    /// Fails or finishes everything that depends on `channel`; the channel is gone after this.
    func endChannel(_ channel: ChannelState, _ reason: AMQPError) {
        channel.handle.markClosed(reason)
        channel.confirms?.failAll(reason) { token, error in token.waiter.complete(token.index, error) }
        channel.confirms = nil
        let clean = reason.code == .closedByApplication
        for consumer in channel.consumers.values {
            if !consumer.batch.isEmpty {
                consumer.buffer.append(consumer.batch)
                consumer.batch = []
            }
            consumer.buffer.finish(clean ? nil : reason)
        }
        channel.consumers = [:]
        channel.incoming = nil
        channel.pendingSettlements = []
        channel.acks.reset()
        channels[channel.id] = nil
    }

    // MARK: - Channels

    func allocateChannelID() throws(AMQPError) -> UInt16 {
        for _ in 0..<Int(channelMax) {
            let id = nextChannelID
            nextChannelID = nextChannelID >= channelMax ? 1 : nextChannelID + 1
            if channels[id] == nil { return id }
        }
        throw AMQPError(.invalidArgument, "all \(channelMax) channels of this connection are open")
    }

    /// The open channel with this id, or the reason it is closed.
    func channel(_ handle: ChannelHandle) throws(AMQPError) -> ChannelState {
        if let channel = channels[handle.id], channel.handle === handle { return channel }
        throw closedReason(handle)
    }

    func closedReason(_ handle: ChannelHandle) -> AMQPError {
        handle.closedReason ?? AMQPError(.closedByApplication, "the channel is closed")
    }
}

/// Per-channel state on the connection thread.
final class ChannelState {
    let id: UInt16
    let handle: ChannelHandle
    /// Present once `confirm.select` succeeded.
    var confirms: ConfirmTracker<(waiter: PublishWaiter, index: Int)>?
    var acks = AckCoalescer()
    var consumers: [String: ConsumerState] = [:]
    /// A delivery or return whose header and body frames are still arriving.
    var incoming: IncomingContent?
    var pendingSettlements: [(tag: UInt64, settlement: AMQPSettlement)] = []
    /// The last consumer a delivery went to, to find it again without building a String per message.
    var lastConsumerTag: [UInt8] = []
    var lastConsumer: ConsumerState?
    /// Where the assembly puts the message of a `basic.get` in progress.
    var gotDelivery: AMQPDelivery?
    var lastExchange = CachedString()
    var lastRoutingKey = CachedString()

    init(id: UInt16, handle: ChannelHandle) {
        self.id = id
        self.handle = handle
    }
}

final class ConsumerState {
    let tag: String
    let buffer: DeliveryBuffer
    let autoAck: Bool
    let maxBodySize: Int
    var batch: [AMQPDelivery] = []

    init(tag: String, buffer: DeliveryBuffer, autoAck: Bool, maxBodySize: Int) {
        self.tag = tag
        self.buffer = buffer
        self.autoAck = autoAck
        self.maxBodySize = maxBodySize
    }
}

struct IncomingContent {
    enum Kind {
        case delivery(consumer: ConsumerState?, deliveryTag: UInt64, redelivered: Bool)
        case returned(replyCode: UInt16, replyText: String)
        /// The message of a `basic.get`.
        case got(deliveryTag: UInt64, redelivered: Bool, autoAck: Bool)
    }

    let kind: Kind
    let exchange: String
    let routingKey: String
    /// Bodies announced larger than this are not kept: their frames are counted and dropped.
    let maxBodySize: Int
    var properties = AMQPProperties()
    var bodySize = -1
    /// Body bytes that have arrived, kept or not.
    var received = 0
    var body = Data()
    var refusal: AMQPDelivery.Refusal?

    var keepsBody: Bool { bodySize <= maxBodySize }
}

/// Remembers the last string decoded from C bytes, so a run of messages with the same exchange or
/// routing key allocates it once.
struct CachedString {
    private var bytes: [UInt8] = []
    private var value = ""

    mutating func string(_ c: amqp_bytes_t) -> String {
        let count = c.len
        guard count > 0, let pointer = c.bytes else { return "" }
        let same = bytes.count == count && bytes.withUnsafeBytes { memcmp($0.baseAddress!, pointer, count) == 0 }
        if !same {
            bytes = Array(UnsafeRawBufferPointer(start: pointer, count: count))
            value = String(decoding: bytes, as: UTF8.self)
        }
        return value
    }
}
