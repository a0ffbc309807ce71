import Logging

/// A connection to a RabbitMQ broker, served by a thread of its own.
///
/// ```swift
/// let connection = try await AMQPConnection.connect(.init(url: url, connectionName: "parcelctl"))
/// let channel = try await connection.openChannel()
/// ```
///
/// Every call is safe from any task; none blocks Swift's cooperative pool. When the connection fails
/// (the broker stops, the network goes, heartbeats are missed) every pending publish, request and
/// consumer fails with the reason, and ``closed()`` returns it. Reconnecting is the caller's choice:
/// call ``connect(_:logger:)`` again.
public final class AMQPConnection: Sendable {
    let driver: ConnectionDriver
    /// The endpoint that accepted the connection (password redacted in its description).
    public let endpoint: AMQPEndpoint
    /// The heartbeat interval agreed with the broker, in seconds (0 = off).
    public let heartbeatSeconds: Int
    public let frameMax: Int
    public let channelMax: Int
    /// The broker's version, as it announced it.
    public let brokerVersion: String?

    private init(driver: ConnectionDriver, established: ConnectionLoop.Established) {
        self.driver = driver
        self.endpoint = established.endpoint
        self.heartbeatSeconds = established.heartbeatSeconds
        self.frameMax = established.frameMax
        self.channelMax = established.channelMax
        self.brokerVersion = established.brokerVersion
    }

    deinit {
        // Nobody can use the connection any more: let its thread end.
        driver.submit(.perform(run: { $0.closeByApplication(); return nil }, fail: { _ in }))
    }

    /// Connects to the first endpoint of `configuration` that accepts, trying them in the order its
    /// ``AMQPConfiguration/endpointSelection`` gives.
    ///
    /// Throws ``AMQPError`` with code `.connectionRefused`, `.unreachable`, `.timedOut`,
    /// `.authenticationFailed`, `.tlsFailure` or `.connectionClosedByBroker` (e.g. an unknown vhost),
    /// naming the endpoint without its password.
    public static func connect(_ configuration: AMQPConfiguration,
                               logger: Logger = Logger(label: "parcelflow.amqp")) async throws(AMQPError) -> AMQPConnection {
        let driver = try ConnectionDriver(logger: logger)
        do {
            let established = try await withCheckedThrowingContinuation { continuation in
                ConnectionLoop.start(driver: driver, configuration: configuration, connected: continuation)
            }
            return AMQPConnection(driver: driver, established: established)
        } catch let error as AMQPError {
            throw error
        } catch {
            throw AMQPError(.protocolError, "\(error)")
        }
    }

    /// Opens a new channel.
    public func openChannel() async throws(AMQPError) -> AMQPChannel {
        let handle = try await driver.perform { loop throws(AMQPError) in try loop.openChannel() }
        return AMQPChannel(connection: self, handle: handle)
    }

    /// Closes the connection in order (`connection.close`) and waits for its thread to finish.
    /// Pending publishes and consumers end with ``AMQPError/Code/closedByApplication``.
    public func close() async {
        driver.submit(.perform(run: { $0.closeByApplication(); return nil }, fail: { _ in }))
        _ = await driver.waitUntilFinished()
    }

    /// Waits until the connection ends; returns why, or nil when the application closed it.
    public func closed() async -> AMQPError? {
        await driver.waitUntilFinished()
    }

    /// False once the connection has failed or been closed.
    public var isOpen: Bool { driver.closedError == nil }

    /// True while the broker blocks publishing on this connection (`connection.blocked`, sent on a
    /// memory or disk alarm): publishes are written but wait for their confirms until it unblocks.
    public var isBlocked: Bool { driver.blockedSince != nil }
}
