import Logging
import Synchronization

/// Publishes with confirms over a connection of its own that it keeps: when the connection is lost
/// (its node stops, the network goes), it connects again — to another node of a cluster first
/// (``EndpointSelection/rotating``) — and re-sends every message the broker had not confirmed.
///
/// A message whose confirm was lost with the connection may have reached its queue: re-sending it can
/// deliver it twice, which is why every ParcelFlow task carries an id its consumers deduplicate on.
/// Messages the broker did not take (`basic.nack`: a quorum queue electing a new leader, or full) are
/// sent again after a pause; those it refused outright (`basic.return`, a channel error) are not: the
/// caller gets the reason. Nothing is re-sent once ``resendWithin`` has passed since the publish
/// began; the caller then gets the last error.
///
/// ```swift
/// let publisher = ReconnectingPublisher(configuration: try AMQPConfiguration(url: urls, connectionName: "submit"))
/// try await publisher.connect()
/// let failures = await publisher.publish(contentsOf: messages)   // nil = confirmed
/// await publisher.close()
/// ```
public final class ReconnectingPublisher: Sendable {
    public let configuration: AMQPConfiguration
    /// How long a publish keeps reconnecting and re-sending before it gives up.
    public let resendWithin: Duration
    /// Pauses between connects while no node answers: doubling from the lower bound to the upper.
    public let retryDelay: ClosedRange<Duration>
    let logger: Logger
    /// Told how many messages are about to be sent again (for metrics).
    let resending: @Sendable (Int) -> Void

    private enum Link {
        case none
        case connecting(Task<AMQPChannel, any Error>)
        case ready(AMQPChannel)
        case closed
    }

    private struct State {
        var link = Link.none
        var reconnects = 0
        var resent = 0
    }

    private let state = Mutex(State())

    public init(configuration: AMQPConfiguration, resendWithin: Duration = .seconds(60),
                retryDelay: ClosedRange<Duration> = .milliseconds(100) ... .seconds(2),
                logger: Logger = Logger(label: "parcelflow.amqp"), resending: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.configuration = configuration
        self.resending = resending
        self.resendWithin = resendWithin
        self.retryDelay = retryDelay
        self.logger = logger
    }

    /// Times it connected again after losing its connection, and messages it re-sent (after a lost
    /// connection or a nack).
    public var reconnects: Int { state.withLock { $0.reconnects } }
    public var resent: Int { state.withLock { $0.resent } }

    /// The endpoint of the current connection (password redacted in its description), if any.
    public var endpoint: AMQPEndpoint? {
        state.withLock { if case .ready(let channel) = $0.link { channel.connection.endpoint } else { nil } }
    }

    /// True while the broker blocks publishing on the current connection (a memory or disk alarm).
    public var isBlocked: Bool {
        state.withLock { if case .ready(let channel) = $0.link { channel.connection.isBlocked } else { false } }
    }

    /// Connects now, once, so that a caller learns at once when no node can be reached (later
    /// connects happen inside ``publish(contentsOf:)``).
    public func connect() async throws(AMQPError) {
        _ = try await channel()
    }

    /// Publishes one message and waits for its confirm, reconnecting as needed.
    public func publish(_ message: AMQPOutboundMessage) async throws(AMQPError) {
        if let error = await publish(contentsOf: [message]).first ?? nil { throw error }
    }

    /// Publishes the messages and waits until each is confirmed or refused; one entry per message,
    /// nil when confirmed. Several calls may be in flight at once; they share the connection.
    public func publish(contentsOf messages: [AMQPOutboundMessage]) async -> [AMQPError?] {
        var results = [AMQPError?](repeating: nil, count: messages.count)
        var pending = Array(messages.indices)
        let deadline = ContinuousClock.now + resendWithin
        var delay = retryDelay.lowerBound
        var nackedRounds = 0
        while !pending.isEmpty {
            let channel: AMQPChannel
            do {
                channel = try await self.channel()
            } catch {
                for index in pending { results[index] = error }
                guard !Self.isFatal(error), ContinuousClock.now + delay < deadline,
                    (try? await Task.sleep(for: delay)) != nil
                else { return results }
                delay = min(delay * 2, retryDelay.upperBound)
                continue
            }
            let outcomes = await channel.publish(contentsOf: pending.map { messages[$0] })
            var again: [Int] = []
            var connectionLost = false
            for (index, outcome) in zip(pending, outcomes) {
                results[index] = outcome
                guard let outcome else { continue }
                if outcome.isConnectionLevel {
                    connectionLost = true
                    again.append(index)
                } else if outcome.code == .nacked {
                    // A quorum queue nacks what it could not take while it elects a new leader.
                    again.append(index)
                }
            }
            guard !again.isEmpty else { break }
            // Every message of the round nacked, round after round: a fresh connection (another node
            // first) gets a fresh view of the queues. Seen on RabbitMQ 3.10 after a cluster node
            // stopped: one connection had every publish nacked for minutes.
            nackedRounds = !connectionLost && again.count == pending.count ? nackedRounds + 1 : 0
            if connectionLost || nackedRounds >= Self.nackedRoundsBeforeReconnect {
                if !connectionLost {
                    logger.warning("every publish nacked \(nackedRounds) times in a row; connecting again",
                                   metadata: ["amqp.endpoint": "\(channel.connection.endpoint)"])
                }
                lost(channel)
                nackedRounds = 0
            }
            guard ContinuousClock.now + (connectionLost ? .zero : delay) < deadline, !Task.isCancelled else { break }
            logger.warning(connectionLost ? "lost the publishing connection with messages unconfirmed; re-sending them"
                                          : "the broker refused messages (basic.nack); re-sending them", metadata: [
                "amqp.endpoint": "\(channel.connection.endpoint)", "amqp.unconfirmed": "\(again.count)",
                "error": "\(results[again[0]]!)"])
            if !connectionLost {
                guard (try? await Task.sleep(for: delay)) != nil else { break }
                delay = min(delay * 2, retryDelay.upperBound)
            }
            state.withLock { $0.resent += again.count }
            resending(again.count)
            pending = again
        }
        return results
    }

    /// Closes the connection; publishes still waiting fail with ``AMQPError/Code/closedByApplication``.
    public func close() async {
        let link = state.withLock { state in
            defer { state.link = .closed }
            return state.link
        }
        switch link {
        case .ready(let channel): await channel.connection.close()
        case .connecting(let task): if let channel = try? await task.value { await channel.connection.close() }
        case .none, .closed: break
        }
    }

    /// The current confirming channel, connecting first when there is none (one connect at a time,
    /// shared by every caller).
    private func channel() async throws(AMQPError) -> AMQPChannel {
        enum Step { case use(AMQPChannel), wait(Task<AMQPChannel, any Error>), closed }
        let step: Step = state.withLock { state in
            switch state.link {
            case .ready(let channel) where channel.closedReason == nil:
                return .use(channel)
            case .connecting(let task):
                return .wait(task)
            case .closed:
                return .closed
            case .none, .ready:
                let configuration = configuration
                if case .ready = state.link { state.reconnects += 1 }
                let task = Task { () throws -> AMQPChannel in
                    let connection = try await AMQPConnection.connect(configuration, logger: logger)
                    do {
                        let channel = try await connection.openChannel()
                        try await channel.enableConfirms()
                        return channel
                    } catch {
                        await connection.close()
                        throw error
                    }
                }
                state.link = .connecting(task)
                return .wait(task)
            }
        }
        switch step {
        case .use(let channel):
            return channel
        case .closed:
            throw AMQPError(.closedByApplication, "the publisher was closed")
        case .wait(let task):
            do {
                let channel = try await task.value
                enum Kept { case yes, closed, replaced }
                let kept = state.withLock { state -> Kept in
                    switch state.link {
                    case .connecting(let current) where current == task:
                        state.link = .ready(channel)
                        return .yes
                    case .ready(let ready) where ready.connection === channel.connection:
                        return .yes  // another caller of the same connect got there first
                    case .closed:
                        return .closed
                    default:
                        return .replaced  // lost already: connect again
                    }
                }
                switch kept {
                case .yes:
                    return channel
                case .closed:
                    // Closed meanwhile: nobody else will close this connection.
                    await channel.connection.close()
                    throw AMQPError(.closedByApplication, "the publisher was closed")
                case .replaced:
                    return try await self.channel()
                }
            } catch {
                state.withLock { state in
                    if case .connecting(let current) = state.link, current == task { state.link = .none }
                }
                throw error as? AMQPError ?? AMQPError(.protocolError, "\(error)")
            }
        }
    }

    /// Forgets `channel` (if still current) and closes its connection: the next publish connects anew.
    private func lost(_ channel: AMQPChannel) {
        let forget = state.withLock { state -> Bool in
            guard case .ready(let current) = state.link, current.connection === channel.connection else { return false }
            state.link = .none
            state.reconnects += 1
            return true
        }
        if forget { Task { await channel.connection.close() } }
    }

    /// Rounds in which the broker nacked every message before the publisher connects again.
    static let nackedRoundsBeforeReconnect = 3

    /// Failures no reconnecting fixes: a refused login, a bad certificate, an unknown vhost.
    static func isFatal(_ error: AMQPError) -> Bool {
        [.authenticationFailed, .tlsFailure, .invalidURL, .invalidArgument, .closedByApplication].contains(error.code)
            || (error.code == .connectionClosedByBroker && error.replyCode != 320)
    }
}

/// What publishes with confirms: a channel with confirms on, or a ``ReconnectingPublisher``.
public protocol ConfirmedPublishing: Sendable {
    /// One entry per message, in order: nil once the broker confirmed it, else why not.
    func publish(contentsOf messages: [AMQPOutboundMessage]) async -> [AMQPError?]
}

extension AMQPChannel: ConfirmedPublishing {}
extension ReconnectingPublisher: ConfirmedPublishing {}
