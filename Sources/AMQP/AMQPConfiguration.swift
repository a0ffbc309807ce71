/// How to reach the broker and how patient to be with it.
public struct AMQPConfiguration: Sendable {
    /// A cluster's nodes, or a single broker: tried one after the other until one accepts, in the
    /// order ``endpointSelection`` gives.
    public var endpoints: [AMQPEndpoint]
    /// Which node a connect tries first: by default the next one along, nodes that failed lately last.
    public var endpointSelection = EndpointSelection.rotating
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
    /// Told when the broker blocks this connection's publishing (`connection.blocked`: a memory or
    /// disk alarm) with its reason, and when it unblocks it (nil). Called on the connection's thread:
    /// keep it quick. Publishes meanwhile wait for their confirms; nothing fails.
    public var blockedChanged: (@Sendable (_ reason: String?) -> Void)?

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
