import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ParcelCore
import ServiceLifecycle
import Synchronization

/// A stand-in for a carrier's handover service, for the HTTP stage handler's tests and for
/// `parcelctl loadtest` against the HTTP handler: Hummingbird on 127.0.0.1, a port of its own choice.
///
/// `POST /handover` with a task (the worker's JSON) and an `Idempotency-Key`, decided as it arrives:
/// - the next scripted answer of ``scriptNext(_:)``, when there is one (tests of single answers);
/// - else, for a key already taken, 409 (the handover was taken before);
/// - else the parcel's next scripted answer (``script(parcel:_:)``), when it has one;
/// - else, with probability ``Behaviour/faultRate``, a fault: half 503 with `Retry-After: 1`, half 500;
/// - else 200 with an empty body.
/// Any 2xx answer marks its key taken.
///
/// Every answer waits ``Behaviour/delay`` (or the scripted answer's own) first. Requests are counted
/// per key, as they arrive and as they are answered. A body that is not a task, or a request without
/// an `Idempotency-Key`, is answered 400.
public final class HandoverServer: Sendable {
    /// The path requests go to.
    public static let path = "/handover"
    /// The largest request body read.
    public static let maxRequestBytes = 1 << 20

    /// How the server answers what no script covers.
    public struct Behaviour: Sendable {
        /// The share of requests (0…1) answered with a fault: 503 with `Retry-After: 1`, or 500.
        public var faultRate: Double
        /// How long each answer takes.
        public var delay: Duration

        public init(faultRate: Double = 0, delay: Duration = .zero) {
            self.faultRate = faultRate
            self.delay = delay
        }
    }

    /// One scripted answer.
    public struct Answer: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
        /// Waited before answering (the behaviour's delay is not added).
        public var delay: Duration
        /// A body of this many bytes, streamed in 16 KiB chunks without a `Content-Length`, instead of `body`.
        public var streamedBytes: Int?
        /// With `streamedBytes`: waited after the head is sent, before the body's first byte.
        public var bodyDelay: Duration

        public init(status: Int, headers: [String: String] = [:], body: String = "", delay: Duration = .zero,
                    streamedBytes: Int? = nil, bodyDelay: Duration = .zero) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
            self.streamedBytes = streamedBytes
            self.bodyDelay = bodyDelay
        }

        /// `{"reason": …}` as JSON, with the status given.
        public static func reason(_ status: Int, _ reason: String, headers: [String: String] = [:]) -> Answer {
            Answer(status: status, headers: headers.merging(["Content-Type": "application/json"]) { $1 },
                   body: JSONValue.object(["reason": .string(reason)]).serialized())
        }
    }

    /// What the server saw of one key.
    public struct Seen: Sendable, Hashable {
        /// Requests that arrived.
        public var arrived = 0
        /// Requests answered (their answer's head written).
        public var answered = 0
        /// The statuses answered, in order.
        public var statuses: [Int] = []
        /// The `X-ParcelFlow-Attempt` of each request, in order.
        public var attempts: [String] = []

        public init(arrived: Int = 0, answered: Int = 0, statuses: [Int] = [], attempts: [String] = []) {
            self.arrived = arrived
            self.answered = answered
            self.statuses = statuses
            self.attempts = attempts
        }
    }

    /// The port the server listens on (127.0.0.1).
    public let port: Int
    private let ledger: Ledger
    private let group: ServiceGroup
    private let running: Task<Void, Never>

    /// `https` when started with a certificate.
    public let scheme: String

    /// Where tasks go: `http://127.0.0.1:PORT/handover` (`https://localhost:PORT/handover` with TLS,
    /// the name the test certificate is for).
    public var url: String { scheme == "https" ? "https://localhost:\(port)\(Self.path)" : "http://127.0.0.1:\(port)\(Self.path)" }

    private init(port: Int, scheme: String, ledger: Ledger, group: ServiceGroup, running: Task<Void, Never>) {
        self.port = port
        self.scheme = scheme
        self.ledger = ledger
        self.group = group
        self.running = running
    }

    /// Starts a server on 127.0.0.1 (`port` 0: any free one) and returns once it listens; with `tls`
    /// (PEM files of a certificate chain and its key), HTTPS.
    public static func start(behaviour: Behaviour = Behaviour(), port: Int = 0,
                             tls: (certificate: String, key: String)? = nil,
                             logger: Logger = HandoverServer.quietLogger) async throws -> HandoverServer {
        let ledger = Ledger(behaviour: behaviour)
        let router = Router()
        router.post(RouterPath(stringLiteral: path)) { request, _ -> Response in
            try await ledger.answer(request)
        }
        let (ports, portsContinuation) = AsyncStream.makeStream(of: Int?.self)
        var server: HTTPServerBuilder = .http1()
        if let tls {
            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.key, format: .pem)))
            server = try .tls(.http1(), tlsConfiguration: configuration)
        }
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "ParcelFlow-handover"),
            onServerRunning: { channel in portsContinuation.yield(channel.localAddress?.port) },
            logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [], logger: logger)
        // A request still waiting on its scripted delay is cut off after this.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(2)
        let group = ServiceGroup(configuration: groupConfiguration)
        let running = Task {
            do {
                try await group.run()
            } catch {
                logger.error("the handover server stopped", metadata: ["error": "\(error)"])
            }
            portsContinuation.yield(nil)
        }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next(), let bound else {
            await group.triggerGracefulShutdown()
            throw HandoverServerError("the handover server could not listen on 127.0.0.1:\(port)")
        }
        return HandoverServer(port: bound, scheme: tls == nil ? "http" : "https", ledger: ledger, group: group, running: running)
    }

    /// Warnings and errors only: not a line per start and stop.
    public static var quietLogger: Logger {
        var logger = Logger(label: "parcelflow.handover")
        logger.logLevel = .warning
        return logger
    }

    /// Stops listening, lets the requests in flight finish (for up to 2 s) and returns.
    public func stop() async {
        await group.triggerGracefulShutdown()
        await running.value
    }

    /// Answers the requests for `parcelID` with `answers`, in order; the last one keeps answering.
    public func script(parcel parcelID: String, _ answers: [Answer]) {
        ledger.state.withLock { $0.byParcel[parcelID] = answers }
    }

    /// Answers the next requests, whatever their parcel, with `answers`, in order (before any
    /// parcel's script).
    public func scriptNext(_ answers: [Answer]) {
        ledger.state.withLock { $0.next.append(contentsOf: answers) }
    }

    /// Changes how requests no script covers are answered.
    public func setBehaviour(_ behaviour: Behaviour) {
        ledger.state.withLock { $0.behaviour = behaviour }
    }

    /// What the server saw of `key` (an `Idempotency-Key`).
    public func seen(_ key: String) -> Seen { ledger.state.withLock { $0.seen[key] ?? Seen() } }

    /// Every key seen.
    public var keys: Set<String> { ledger.state.withLock { Set($0.seen.keys) } }

    /// Totals: requests, faults injected, requests refused as not a task.
    public var totals: (requests: Int, faults: Int, invalid: Int) {
        ledger.state.withLock { ($0.requests, $0.faults, $0.invalid) }
    }

    /// The most requests the server was answering at once (each counted from its arrival to its answer).
    public var mostInFlight: Int { ledger.state.withLock { $0.mostInFlight } }

    /// The keys answered with success: each a handover the service took (once: a repeat is a 409).
    public var taken: Set<String> { ledger.state.withLock { $0.taken } }

    /// Requests answered 409: repeats of a handover already taken (redeliveries, retries after a
    /// lost answer).
    public var repeats: Int {
        ledger.state.withLock { $0.seen.values.reduce(0) { $0 + $1.statuses.count { $0 == 409 } } }
    }
}

/// The server's memory and its answers.
private final class Ledger: Sendable {
    struct State {
        var behaviour: Behaviour
        var taken: Set<String> = []
        var seen: [String: HandoverServer.Seen] = [:]
        var byParcel: [String: [HandoverServer.Answer]] = [:]
        var next: [HandoverServer.Answer] = []
        var requests = 0
        var faults = 0
        var invalid = 0
        /// Requests being answered now, and the most there were at once.
        var inFlight = 0
        var mostInFlight = 0
    }

    typealias Behaviour = HandoverServer.Behaviour
    typealias Answer = HandoverServer.Answer

    let state: Mutex<State>

    init(behaviour: Behaviour) {
        state = Mutex(State(behaviour: behaviour))
    }

    func answer(_ request: Request) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: HandoverServer.maxRequestBytes)
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        let attempt = request.headers[HTTPField.Name("X-ParcelFlow-Attempt")!] ?? ""
        let task = TaskEnvelope.decode(Data(body.readableBytesView))
        guard let key, case .success(let parcel) = task.map(\.parcelID) else {
            state.withLock { $0.invalid += 1 }
            let problem = key == nil ? "Idempotency-Key is missing" : "the body is not a task"
            return Self.response(Answer.reason(400, problem))
        }
        // Decided as the request arrives, so that two at once for one key cannot both succeed.
        let (answer, delay) = state.withLock { state -> (Answer, Duration) in
            state.requests += 1
            state.inFlight += 1
            state.mostInFlight = max(state.mostInFlight, state.inFlight)
            state.seen[key, default: HandoverServer.Seen()].arrived += 1
            state.seen[key, default: HandoverServer.Seen()].attempts.append(attempt)
            if !state.next.isEmpty {
                let answer = state.next.removeFirst()
                if (200...299).contains(answer.status) { state.taken.insert(key) }
                return (answer, answer.delay)
            }
            if state.taken.contains(key) { return (Answer(status: 409), state.behaviour.delay) }
            if var answers = state.byParcel[parcel], let answer = answers.first {
                if answers.count > 1 { answers.removeFirst() }
                state.byParcel[parcel] = answers
                if (200...299).contains(answer.status) { state.taken.insert(key) }
                return (answer, answer.delay)
            }
            if state.behaviour.faultRate > 0, Double.random(in: 0..<1) < state.behaviour.faultRate {
                state.faults += 1
                let fault = Bool.random() ? Answer(status: 503, headers: ["Retry-After": "1"]) : Answer(status: 500)
                return (fault, state.behaviour.delay)
            }
            state.taken.insert(key)
            return (Answer(status: 200), state.behaviour.delay)
        }
        if delay > .zero {
            do {
                try await Task.sleep(for: delay)
            } catch {
                state.withLock { $0.inFlight -= 1 }
                throw error
            }
        }
        state.withLock { state in
            state.inFlight -= 1
            state.seen[key, default: HandoverServer.Seen()].answered += 1
            state.seen[key, default: HandoverServer.Seen()].statuses.append(answer.status)
        }
        return Self.response(answer)
    }

    static func response(_ answer: Answer) -> Response {
        var headers = HTTPFields()
        for (name, value) in answer.headers.sorted(by: { $0.key < $1.key }) {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        let status = HTTPResponse.Status(code: answer.status)
        if let size = answer.streamedBytes {
            let bodyDelay = answer.bodyDelay
            return Response(status: status, headers: headers, body: ResponseBody { writer in
                if bodyDelay > .zero { try await Task.sleep(for: bodyDelay) }
                let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 16 * 1024)
                var left = size
                while left > 0 {
                    try await writer.write(left >= chunk.readableBytes ? chunk : chunk.getSlice(at: 0, length: left)!)
                    left -= chunk.readableBytes
                }
                try await writer.finish(nil)
            })
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body)))
    }
}

public struct HandoverServerError: Error, Sendable, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}
