import AsyncHTTPClient
import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ParcelCore
import ParcelWorkerRuntime

/// A stage's work done by a service over HTTP: the task is POSTed to ``HandoverEndpoint`` as JSON
/// (its own wire encoding, `schemas/task-envelope.v1.schema.json`) with
///
/// - `Idempotency-Key: <task id>` (`PARCEL:STAGE`, the same for every attempt and copy: the service
///   makes a repeat harmless by it, and answers 409 to a repeat of a handover it already took),
/// - `X-ParcelFlow-Attempt: <attempt>`, `Content-Type: application/json`, and basic authentication
///   when the URL carries a user.
///
/// The whole exchange, the answer's body included, ends by the context's deadline; past it the task
/// fails transiently. An answer body over ``maxAnswerBytes`` is refused as it streams in, before it is
/// held whole (transient: the service may answer sensibly next time). What each status means is
/// ``HTTPAnswer``'s table. Connection errors, TLS failures (an unknown certificate among them) and
/// timeouts are transient. No reason names the URL's credentials or query.
public struct HTTPStageHandler: StageHandler {
    /// The largest answer body taken, in bytes.
    public static let defaultMaxAnswerBytes = 64 * 1024

    public let stage: Stage
    public let endpoint: HandoverEndpoint
    let client: HTTPHandlerClient
    let maxAnswerBytes: Int
    let logger: Logger
    let now: @Sendable () -> Date

    public init(stage: Stage, endpoint: HandoverEndpoint, client: HTTPHandlerClient,
                maxAnswerBytes: Int = defaultMaxAnswerBytes, logger: Logger,
                now: @escaping @Sendable () -> Date = Date.init) {
        self.stage = stage
        self.endpoint = endpoint
        self.client = client
        self.maxAnswerBytes = maxAnswerBytes
        self.logger = logger
        self.now = now
    }

    public func handle(_ task: TaskEnvelope, context: HandlerContext) async throws(TaskFailure) -> StageOutcome {
        let answer: Answer
        do {
            answer = try await exchange(task, context: context)
        } catch {
            let failure = failure(for: error, context: context)
            record(failure.class)
            throw .transient(failure.reason)
        }
        record("\(answer.status / 100)xx")
        let result = HTTPAnswer.outcome(status: answer.status, retryAfter: answer.retryAfter, body: answer.body,
                                        task: task, from: endpoint.host, now: now())
        if case .failure(let failure) = result {
            logger.debug("http handler failed", metadata: [
                LogKey.parcelID: "\(task.parcelID)", LogKey.stage: "\(stage)", "http.status": "\(answer.status)",
                LogKey.error: "\(failure)",
            ])
        }
        return try result.get()
    }

    /// What came back: the status, `Retry-After`, and the body (at most ``maxAnswerBytes``).
    struct Answer: Sendable {
        var status: Int
        var retryAfter: String?
        var body: Data
    }

    /// Why no answer could be taken.
    enum NoAnswer: Error {
        case deadlinePassed
        case tooLarge(announced: Int?)
        case stopping
    }

    /// The request and the answer, within the deadline: the client's own deadline covers the
    /// request until the answer's head, and the race below covers the body too.
    private func exchange(_ task: TaskEnvelope, context: HandlerContext) async throws -> Answer {
        let remaining = context.deadline - .now
        guard remaining > .zero else { throw NoAnswer.deadlinePassed }
        guard let http = client.client() else { throw NoAnswer.stopping }
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, text/plain")
        request.headers.add(name: "Idempotency-Key", value: context.idempotencyKey)
        request.headers.add(name: "X-ParcelFlow-Attempt", value: "\(context.attempt)")
        if let authorization = endpoint.authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.body = .bytes(ByteBuffer(bytes: task.encoded()))
        let prepared = request
        let limit = maxAnswerBytes
        let deadline = NIODeadline.now() + timeAmount(remaining)
        return try await withThrowingTaskGroup(of: Answer?.self) { group in
            group.addTask {
                let response = try await http.execute(prepared, deadline: deadline, logger: logger)
                let announced = response.headers.first(name: "Content-Length").flatMap { Int($0) }
                if let announced, announced > limit { throw NoAnswer.tooLarge(announced: announced) }
                var body = Data()
                for try await chunk in response.body {
                    guard chunk.readableBytes <= limit - body.count else { throw NoAnswer.tooLarge(announced: nil) }
                    body.append(contentsOf: chunk.readableBytesView)
                }
                return Answer(status: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"),
                              body: body)
            }
            group.addTask {
                try await Task.sleep(until: context.deadline, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answer = first else { throw NoAnswer.deadlinePassed }
            return answer
        }
    }

    /// A transient failure's reason and its class for the metric.
    private func failure(for error: any Error, context: HandlerContext) -> (reason: String, class: String) {
        let service = endpoint.host
        let client = error as? HTTPClientError
        switch error as? NoAnswer {
        case .deadlinePassed?:
            return ("no answer from \(service) within the handler's deadline", "timeout")
        case .tooLarge(let announced)?:
            let size = announced.map { " (\(NumberText.integer($0)) bytes announced)" } ?? ""
            return ("the answer from \(service) is larger than \(NumberText.integer(maxAnswerBytes)) bytes\(size): refused", "refused")
        case .stopping?:
            return ("the worker is stopping: no new request to \(service)", "error")
        case nil:
            break
        }
        if client == .deadlineExceeded || client == .readTimeout {
            return ("no answer from \(service) within the handler's deadline", "timeout")
        }
        if error is CancellationError || client == .cancelled {
            return ("the request to \(service) was cancelled (the worker is stopping)", "error")
        }
        let said = HTTPAnswer.reason(from: Data(String(describing: error).utf8))
        if error is NIOSSLError || error is BoringSSLError {
            if said.contains("CERTIFICATE_VERIFY_FAILED") {
                return ("TLS with \(service) failed: its certificate is not trusted (CERTIFICATE_VERIFY_FAILED)", "tls")
            }
            return ("TLS with \(service) failed: \(said)", "tls")
        }
        return ("\(service) could not be reached: \(said)", "unreachable")
    }

    private func record(_ answerClass: String) {
        Counter(label: ParcelMetrics.httpHandlerAnswers, dimensions: [("stage", stage.rawValue), ("answer", answerClass)])
            .increment()
    }
}

/// A duration as NIO's time amount (nanoseconds, saturating).
func timeAmount(_ duration: Duration) -> TimeAmount {
    let (seconds, attoseconds) = duration.components
    let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    guard !overflow else { return .nanoseconds(seconds > 0 ? .max : .min) }
    let (total, overflowed) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
    return .nanoseconds(overflowed ? .max : total)
}
