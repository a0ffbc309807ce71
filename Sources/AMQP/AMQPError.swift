/// Every failure the AMQP layer reports: what kind it is, the broker's own words where it gave any, and
/// what we were doing at the time.
///
/// A struct with an extendable ``Code`` rather than an ever-growing enum, so callers match on the kinds
/// they care about (`error.code == .authenticationFailed`) and new kinds do not break them.
public struct AMQPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The URL could not be parsed.
        public static let invalidURL = Code("invalid URL")
        /// Nothing accepts connections at that host and port.
        public static let connectionRefused = Code("connection refused")
        /// The host name does not resolve or the network cannot reach it.
        public static let unreachable = Code("unreachable")
        /// Connecting, the handshake or a synchronous request took longer than its timeout.
        public static let timedOut = Code("timed out")
        /// The broker refused the user name or password (ACCESS_REFUSED at login).
        public static let authenticationFailed = Code("authentication failed")
        /// The TLS handshake or certificate verification failed.
        public static let tlsFailure = Code("TLS failure")
        /// The peer sent nothing for two heartbeat intervals.
        public static let heartbeatMissed = Code("missed heartbeats")
        /// The socket closed or failed under us.
        public static let connectionLost = Code("connection lost")
        /// The broker closed the connection (`connection.close`), e.g. CONNECTION_FORCED at shutdown.
        public static let connectionClosedByBroker = Code("connection closed by broker")
        /// The broker closed the channel (`channel.close`): PRECONDITION_FAILED, NOT_FOUND, ACCESS_REFUSED…
        public static let channelClosedByBroker = Code("channel closed by broker")
        /// The connection or channel was closed by this application and can no longer be used.
        public static let closedByApplication = Code("closed by application")
        /// A `mandatory` publish could not be routed to any queue (`basic.return`).
        public static let unroutable = Code("unroutable message")
        /// The broker refused responsibility for a published message (`basic.nack`).
        public static let nacked = Code("message nacked by broker")
        /// The broker cancelled a consumer, e.g. because its queue was deleted.
        public static let consumerCancelled = Code("consumer cancelled by broker")
        /// An argument was out of range before anything was sent.
        public static let invalidArgument = Code("invalid argument")
        /// The peer broke the protocol or the library failed in a way not listed above.
        public static let protocolError = Code("protocol error")
    }

    public var code: Code
    /// Human-readable detail; the broker's reply text when it sent one
    /// (e.g. `PRECONDITION_FAILED - inequivalent arg 'x-queue-type' …`).
    public var message: String
    /// The AMQP reply code when the broker sent one (403, 404, 406, 320, 312…).
    public var replyCode: UInt16?
    /// What was being done, e.g. `queue.declare 'parcelflow.collection'`.
    public var context: String?

    public init(_ code: Code, _ message: String, replyCode: UInt16? = nil, context: String? = nil) {
        self.code = code
        self.message = message
        self.replyCode = replyCode
        self.context = context
    }

    public var description: String {
        var text = context.map { "\($0): " } ?? ""
        text += code.name
        if !message.isEmpty { text += ": \(message)" }
        return text
    }

    /// The symbolic name of ``replyCode`` (e.g. `PRECONDITION_FAILED`), when there is one.
    public var replyName: String? { replyCode.flatMap { AMQPError.replyNames[$0] } }

    public var isPreconditionFailed: Bool { replyCode == 406 }
    public var isNotFound: Bool { replyCode == 404 }
    public var isAccessRefused: Bool { replyCode == 403 }

    /// True when the connection that raised this error is gone (as opposed to one channel or one message).
    /// A protocol error counts: after one, the connection's state is unknown and it is closed.
    public var isConnectionLevel: Bool {
        [.connectionRefused, .unreachable, .timedOut, .authenticationFailed, .tlsFailure, .heartbeatMissed,
         .connectionLost, .connectionClosedByBroker, .protocolError].contains(code)
    }

    /// This error with `context` filled in, unless it already names one.
    public func with(context: String) -> AMQPError {
        var copy = self
        if copy.context == nil { copy.context = context }
        return copy
    }

    static let replyNames: [UInt16: String] = [
        200: "REPLY_SUCCESS", 311: "CONTENT_TOO_LARGE", 312: "NO_ROUTE", 313: "NO_CONSUMERS",
        320: "CONNECTION_FORCED", 402: "INVALID_PATH", 403: "ACCESS_REFUSED", 404: "NOT_FOUND",
        405: "RESOURCE_LOCKED", 406: "PRECONDITION_FAILED", 501: "FRAME_ERROR", 502: "SYNTAX_ERROR",
        503: "COMMAND_INVALID", 504: "CHANNEL_ERROR", 505: "UNEXPECTED_FRAME", 506: "RESOURCE_ERROR",
        530: "NOT_ALLOWED", 540: "NOT_IMPLEMENTED", 541: "INTERNAL_ERROR",
    ]
}
