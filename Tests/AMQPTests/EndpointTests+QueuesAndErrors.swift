@testable import AMQP
import Testing

/// EndpointTests, continued: TLS options, queue arguments and AMQPError (EndpointTests.swift has the
/// URI parsing).
extension EndpointTests {
    // MARK: - TLS options

    @Test("merged(over:) keeps set fields and fills unset ones from the defaults")
    func tlsMerge() {
        let defaults = AMQPTLSOptions(caCertificatePath: "/default/ca.pem", certificatePath: "/default/cert.pem",
                                      keyPath: "/default/key.pem", verifyPeer: true, verifyHostname: true)
        let own = AMQPTLSOptions(caCertificatePath: "/own/ca.pem", verifyPeer: false)
        let merged = own.merged(over: defaults)
        #expect(merged == AMQPTLSOptions(caCertificatePath: "/own/ca.pem", certificatePath: "/default/cert.pem",
                                         keyPath: "/default/key.pem", verifyPeer: false, verifyHostname: true))
        // An explicit false is kept, not replaced by the default.
        #expect(AMQPTLSOptions(verifyHostname: false).merged(over: defaults).verifyHostname == false)
        // Unset over unset stays unset.
        #expect(AMQPTLSOptions().merged(over: AMQPTLSOptions()) == AMQPTLSOptions())
        #expect(AMQPTLSOptions().merged(over: defaults) == defaults)
        #expect(defaults.merged(over: AMQPTLSOptions()) == defaults)
    }

    // MARK: - Queue arguments

    @Test("classic queue options with nothing set produce no arguments")
    func classicQueueArguments() {
        #expect(AMQPQueueOptions().arguments.isEmpty)
        #expect(AMQPQueueOptions(type: .classic, durable: false, exclusive: true, autoDelete: true).arguments.isEmpty)
    }

    @Test("queue options become the x- arguments RabbitMQ understands, with the right types")
    func queueArguments() {
        let options = AMQPQueueOptions(type: .quorum, deadLetterExchange: "parcels.dlx", deadLetterRoutingKey: "dead",
                                       messageTTL: .seconds(90), deliveryLimit: 5, maxLength: 10_000,
                                       overflow: .rejectPublish)
        let args = options.arguments
        #expect(args == [
            "x-queue-type": .string("quorum"),
            "x-dead-letter-exchange": .string("parcels.dlx"),
            "x-dead-letter-routing-key": .string("dead"),
            "x-message-ttl": .int64(90_000),
            "x-delivery-limit": .int64(5),
            "x-max-length": .int64(10_000),
            "x-overflow": .string("reject-publish"),
        ])
    }

    @Test("the message TTL is whole milliseconds, rounded down", arguments: [
        (Duration.milliseconds(1500), Int64(1500)),
        (.seconds(1) + .microseconds(999), 1000),
        (.microseconds(2500), 2),
        (.seconds(3600), 3_600_000),
        (.zero, 0),
    ])
    func messageTTL(ttl: Duration, milliseconds: Int64) {
        #expect(AMQPQueueOptions(messageTTL: ttl).arguments == ["x-message-ttl": .int64(milliseconds)])
    }

    @Test("every queue type and overflow mode has RabbitMQ's spelling")
    func queueTypeAndOverflowSpelling() {
        #expect(AMQPQueueOptions(type: .stream).arguments["x-queue-type"] == .string("stream"))
        #expect(AMQPQueueOptions(overflow: .dropHead).arguments["x-overflow"] == .string("drop-head"))
        #expect(AMQPQueueOptions(overflow: .rejectPublishDeadLetter).arguments["x-overflow"] == .string("reject-publish-dlx"))
    }

    @Test("an empty dead-letter exchange (the default exchange) is still sent")
    func emptyDeadLetterExchange() {
        #expect(AMQPQueueOptions(deadLetterExchange: "").arguments == ["x-dead-letter-exchange": .string("")])
    }

    @Test("extra arguments are kept, and the named options win over them")
    func extraArguments() {
        let options = AMQPQueueOptions(type: .quorum, maxLength: 10,
                                       extraArguments: ["x-max-length": .int32(99), "x-single-active-consumer": true])
        #expect(options.arguments == [
            "x-queue-type": .string("quorum"),
            "x-max-length": .int64(10),
            "x-single-active-consumer": .bool(true),
        ])
        #expect(AMQPQueueOptions(extraArguments: ["x-queue-type": "quorum"]).arguments == ["x-queue-type": .string("quorum")])
    }

    // MARK: - AMQPError

    @Test("description is context, code and message, leaving out what is missing")
    func errorDescription() {
        #expect(AMQPError(.timedOut, "no reply in 30 s", context: "queue.declare 'q'").description
            == "queue.declare 'q': timed out: no reply in 30 s")
        #expect(AMQPError(.connectionLost, "EOF").description == "connection lost: EOF")
        #expect(AMQPError(.nacked, "").description == "message nacked by broker")
        #expect(AMQPError(.closedByApplication, "", context: "publish").description == "publish: closed by application")
        #expect("\(AMQPError(.invalidURL, "bad"))" == "invalid URL: bad")
    }

    @Test("with(context:) adds a context only when there is none")
    func errorWithContext() {
        let bare = AMQPError(.channelClosedByBroker, "NOT_FOUND - no queue 'q'", replyCode: 404)
        #expect(bare.with(context: "basic.consume 'q'").context == "basic.consume 'q'")
        let inner = bare.with(context: "queue.bind 'q'")
        #expect(inner.with(context: "outer").context == "queue.bind 'q'")
        #expect(inner.with(context: "outer").replyCode == 404)
    }

    @Test("replyName names the reply code, or is nil", arguments: [
        (UInt16?(406), String?("PRECONDITION_FAILED")),
        (404, "NOT_FOUND"),
        (403, "ACCESS_REFUSED"),
        (320, "CONNECTION_FORCED"),
        (312, "NO_ROUTE"),
        (541, "INTERNAL_ERROR"),
        (999, nil),
        (nil, nil),
    ])
    func replyName(code: UInt16?, name: String?) {
        #expect(AMQPError(.protocolError, "x", replyCode: code).replyName == name)
    }

    @Test("the reply-code predicates match their codes only")
    func replyPredicates() {
        let precondition = AMQPError(.channelClosedByBroker, "", replyCode: 406)
        #expect(precondition.isPreconditionFailed && !precondition.isNotFound && !precondition.isAccessRefused)
        let notFound = AMQPError(.channelClosedByBroker, "", replyCode: 404)
        #expect(notFound.isNotFound && !notFound.isPreconditionFailed)
        let refused = AMQPError(.authenticationFailed, "", replyCode: 403)
        #expect(refused.isAccessRefused && !refused.isNotFound)
        let none = AMQPError(.timedOut, "")
        #expect(!none.isPreconditionFailed && !none.isNotFound && !none.isAccessRefused)
    }

    @Test("connection-level errors are the ones that lose the connection", arguments: [
        (AMQPError.Code.connectionRefused, true), (.unreachable, true), (.timedOut, true), (.authenticationFailed, true),
        (.tlsFailure, true), (.heartbeatMissed, true), (.connectionLost, true), (.connectionClosedByBroker, true),
        (.invalidURL, false), (.channelClosedByBroker, false), (.closedByApplication, false), (.unroutable, false),
        (.nacked, false), (.consumerCancelled, false), (.invalidArgument, false), (.protocolError, true),
    ])
    func connectionLevel(code: AMQPError.Code, expected: Bool) {
        #expect(AMQPError(code, "x").isConnectionLevel == expected)
    }

    @Test("error codes compare by name and errors by all their fields")
    func errorEquality() {
        #expect(AMQPError.Code("timed out") == .timedOut)
        #expect(AMQPError.Code.timedOut.description == "timed out")
        #expect(AMQPError(.timedOut, "a") != AMQPError(.timedOut, "b"))
        #expect(AMQPError(.timedOut, "a", replyCode: 1) != AMQPError(.timedOut, "a"))
        #expect(AMQPError(.timedOut, "a", context: "c") != AMQPError(.timedOut, "a"))
        #expect(AMQPError(.timedOut, "a") == AMQPError(.timedOut, "a"))
    }
}
