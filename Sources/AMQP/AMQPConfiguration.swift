/// How to reach the broker and how patient to be with it.
public struct AMQPConfiguration: Sendable {
    /// Tried in order until one accepts; a cluster's nodes, or a single broker.
    public var endpoints: [AMQPEndpoint]
    /// Shown by the broker (`rabbitmqctl list_connections name client_properties`) and in its UI.
    public var connectionName: String
    /// Limit for the TCP connect and, separately, for the AMQP handshake, per endpoint.
    public var connectTimeout: Duration = .seconds(5)
    /// Heartbeat interval proposed to the broker; zero turns heartbeats off. Two missed intervals close
    /// the connection with ``AMQPError/Code/heartbeatMissed``.
    public var heartbeat: Duration = .seconds(10)
    /// Limit for a synchronous request (declare, bind, consume…); past it the connection is closed,
    /// because the reply might still come and the protocol state would be unknown.
    public var requestTimeout: Duration = .seconds(30)
    /// Defaults for `amqps://` endpoints; options in a URL's query win.
    public var tls = AMQPTLSOptions()
    /// The largest frame to ask the broker for, from 4,096 bytes to ``AMQPLimits/maxFrameSize``
    /// (0 or more asks for that maximum).
    public var frameMax: Int = 131_072

    /// ``frameMax`` within the bounds the connection thread's stack is sized for.
    var boundedFrameMax: Int {
        frameMax <= 0 ? AMQPLimits.maxFrameSize : min(max(frameMax, 4096), AMQPLimits.maxFrameSize)
    }

    public init(endpoints: [AMQPEndpoint], connectionName: String) {
        self.endpoints = endpoints
        self.connectionName = connectionName
    }

    /// A configuration from one URL or a comma-separated list of them.
    public init(url: String, connectionName: String) throws(AMQPError) {
        self.init(endpoints: try AMQPEndpoint.list(url), connectionName: connectionName)
    }
}

extension Duration {
    /// Whole milliseconds, rounding down; what C timeouts want. ParcelCore's `wholeMilliseconds` is the
    /// same for the modules above this one: AMQP imports nothing of ParcelFlow, so it keeps its own.
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
