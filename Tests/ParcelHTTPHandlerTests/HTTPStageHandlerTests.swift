import Foundation
import Logging
import ParcelCore
@testable import ParcelHTTPHandler
import ParcelLoadTest
import ParcelTestSupport
import ParcelWorkerRuntime
import Testing

/// The HTTP handler against a real HTTP server (``HandoverServer``, Hummingbird on 127.0.0.1) that
/// answers in each way the status mapping knows, slowly, too much, twice for one key, or not at all.
@Suite("HTTP handler against a real server")
struct HTTPStageHandlerTests {
    typealias Answer = HandoverServer.Answer

    /// A server, a client and a handler for `stage`, torn down by `body`'s end.
    static func withHandler(stage: Stage = .packaging, url: ((HandoverServer) -> String)? = nil,
                            tls: (certificate: String, key: String)? = nil, caFile: String? = nil,
                            _ body: (HandoverServer, HTTPStageHandler) async throws -> Void) async throws {
        let server = try await HandoverServer.start(tls: tls)
        let client = try HTTPHandlerClient(settings: .init(caFile: caFile), logger: Logger(label: "test"))
        let handler = HTTPStageHandler(stage: stage, endpoint: try HandoverEndpoint(url?(server) ?? server.url), client: client,
                                       logger: Logger(label: "test"))
        do {
            try await body(server, handler)
        } catch {
            await client.shutdown()
            await server.stop()
            throw error
        }
        await client.shutdown()
        await server.stop()
    }

    static func task(_ stage: Stage = .packaging, attempt: Int = 1) -> TaskEnvelope {
        var task = HTTPAnswerTests.task(stage)
        task.attempt = attempt
        return task
    }

    static func run(_ handler: HTTPStageHandler, _ task: TaskEnvelope = task(), timeout: Duration = .seconds(10))
        async -> Result<StageOutcome, TaskFailure>
    {
        do throws(TaskFailure) {
            return .success(try await handler.handle(task, context: HandlerContext(task, timeout: timeout)))
        } catch {
            return .failure(error)
        }
    }

    @Test("2xx with payload fields: done, the fields taken; the request carries the task, its key and its attempt")
    func successWithFields() async throws {
        try await Self.withHandler { server, handler in
            server.script(parcel: sampleParcel.id, [Answer(status: 200, body: #"{"box": "large_box"}"#)])
            let task = Self.task(attempt: 3)
            let result = await Self.run(handler, task)
            guard case .success(.completed(let payload)) = result else {
                Issue.record("expected done, got \(result)")
                return
            }
            #expect(payload.box == .largeBox && payload.packedAt != nil)
            let seen = server.seen(task.taskID)
            #expect(seen.arrived == 1 && seen.statuses == [200] && seen.attempts == ["3"])
            #expect(server.totals.invalid == 0, "the body was the task as the worker encodes it")
        }
    }

    @Test("2xx with another stage's field: permanent, naming the field")
    func forgedField() async throws {
        try await Self.withHandler { server, handler in
            server.script(parcel: sampleParcel.id, [Answer(status: 200, body: #"{"inspected_at": "2026-12-01T09:30:00.000Z"}"#)])
            let result = await Self.run(handler)
            #expect(result.failure?.kind == .permanent)
            #expect(result.failure?.reason.contains("payload.inspected_at: is recorded by inspection, not by packaging") == true,
                    "\(result)")
        }
    }

    @Test("409, 400, 422, 423, 429, 503, 500, 408, 404 and 301 from the server, each as its row says")
    func statusRows() async throws {
        try await Self.withHandler { server, handler in
            server.scriptNext([
                Answer(status: 409),
                .reason(400, "weight missing"),
                Answer(status: 422, body: "no such\u{1B}[2J ward"),
                .reason(423, "customs check\nneeded"),
                Answer(status: 423, body: "plain\ttext reason"),
                Answer(status: 429, headers: ["Retry-After": "7"]),
                Answer(status: 503, headers: ["Retry-After": "2"], body: "maintenance"),
                Answer(status: 503),
                Answer(status: 500, body: "oops"),
                Answer(status: 408),
                Answer(status: 404),
                Answer(status: 301, headers: ["Location": server.url]),
            ])
            let task = Self.task()
            let conflict = await Self.run(handler, task)
            guard case .success(.completed) = conflict else {
                Issue.record("409 is not done: \(conflict)")
                return
            }
            let host = "127.0.0.1:\(server.port)"
            #expect(await Self.run(handler).failure == .permanent("HTTP 400 from \(host): weight missing"))
            #expect(await Self.run(handler).failure == .permanent("HTTP 422 from \(host): no such [2J ward"))
            #expect(await Self.run(handler) == .success(.held(reason: "customs check needed")))
            #expect(await Self.run(handler) == .success(.held(reason: "plain text reason")))
            #expect(await Self.run(handler).failure == .transient("HTTP 429 from \(host) (retry after 7 s)", retryAfter: .seconds(7)))
            #expect(await Self.run(handler).failure == .transient("HTTP 503 from \(host) (retry after 2 s): maintenance",
                                                                   retryAfter: .seconds(2)))
            #expect(await Self.run(handler).failure == .transient("HTTP 503 from \(host)"))
            #expect(await Self.run(handler).failure == .transient("HTTP 500 from \(host): oops"))
            #expect(await Self.run(handler).failure == .transient("HTTP 408 from \(host)"))
            #expect(await Self.run(handler).failure?.kind == .permanent)
            let redirect = await Self.run(handler)
            #expect(redirect.failure?.kind == .permanent && redirect.failure?.reason.contains("redirects are not followed") == true)
            #expect(server.seen(task.taskID).arrived == 12, "the redirect was not followed")
        }
    }

    @Test("409 answers done with the carried payload and the stage's stand-ins")
    func conflictIsDone() async throws {
        try await Self.withHandler { server, handler in
            server.scriptNext([Answer(status: 409)])
            guard case .success(.completed(let payload)) = await Self.run(handler) else {
                Issue.record("409 is not done")
                return
            }
            #expect(payload.collectionPoint == "depot-north" && payload.box == .smallBox && payload.packedAt != nil)
        }
    }

    @Test("the same key twice: the first succeeds, the repeat is answered 409 and is done too")
    func repeatIsDone() async throws {
        try await Self.withHandler { server, handler in
            let first = Self.task(attempt: 1)
            let repeated = Self.task(attempt: 2)
            guard case .success(.completed) = await Self.run(handler, first),
                  case .success(.completed) = await Self.run(handler, repeated) else {
                Issue.record("not done both times")
                return
            }
            let seen = server.seen(first.taskID)
            #expect(seen.arrived == 2 && seen.statuses == [200, 409] && seen.attempts == ["1", "2"])
            #expect(server.keys == ["\(sampleParcel.id):packaging"], "one Idempotency-Key, the task id, both times")
        }
    }

    @Test("a server slower than the deadline: transient, answered at the deadline, not the server's pace")
    func slowServer() async throws {
        try await Self.withHandler { server, handler in
            server.scriptNext([Answer(status: 200, delay: .seconds(3))])
            let start = ContinuousClock.now
            let result = await Self.run(handler, timeout: .milliseconds(300))
            #expect(result.failure?.kind == .transient)
            #expect(result.failure?.reason.contains("no answer from 127.0.0.1:\(server.port) within the handler's deadline") == true,
                    "\(result)")
            #expect(ContinuousClock.now - start < .seconds(2), "waited for the server instead of the deadline")
        }
    }

    @Test("a body slower than the deadline: transient at the deadline, though the head came in time")
    func slowBody() async throws {
        try await Self.withHandler { server, handler in
            server.scriptNext([Answer(status: 200, streamedBytes: 2, bodyDelay: .seconds(3))])
            let start = ContinuousClock.now
            let result = await Self.run(handler, timeout: .milliseconds(500))
            #expect(result.failure == .transient("no answer from 127.0.0.1:\(server.port) within the handler's deadline"), "\(result)")
            #expect(ContinuousClock.now - start < .seconds(2), "waited for the body instead of the deadline")
        }
    }

    @Test("nothing listening: transient, the reason says it could not be reached and names no credentials")
    func connectionRefused() async throws {
        let port = try freePort()
        let client = try HTTPHandlerClient(settings: .init(connectTimeout: .milliseconds(500)), logger: Logger(label: "test"))
        let handler = HTTPStageHandler(stage: .packaging,
                                       endpoint: try HandoverEndpoint("http://carrier:s3cret@127.0.0.1:\(port)/handover?token=t0ken"),
                                       client: client, logger: Logger(label: "test"))
        let result = await Self.run(handler)
        await client.shutdown()
        #expect(result.failure?.kind == .transient)
        #expect(result.failure?.reason.hasPrefix("127.0.0.1:\(port) could not be reached") == true, "\(result)")
        #expect(result.failure?.reason.contains("s3cret") == false && result.failure?.reason.contains("t0ken") == false)
    }

    @Test("credentials in the URL go as basic authentication and into no reason")
    func credentialsNeverShown() async throws {
        try await Self.withHandler(url: { "http://carrier:s3cret@127.0.0.1:\($0.port)/handover" }) { server, handler in
            server.scriptNext([Answer(status: 500, body: "down"), Answer(status: 401)])
            for _ in 0..<2 {
                let result = await Self.run(handler)
                #expect(result.failure != nil && result.failure?.reason.contains("s3cret") == false, "\(result)")
            }
        }
    }

    @Test("an answer over 64 KiB is refused, announced or streamed without a length")
    func oversizeAnswer() async throws {
        try await Self.withHandler { server, handler in
            server.scriptNext([
                Answer(status: 200, body: String(repeating: " ", count: HTTPStageHandler.defaultMaxAnswerBytes + 1)),
                Answer(status: 200, streamedBytes: 10 * HTTPStageHandler.defaultMaxAnswerBytes),
                Answer(status: 423, body: String(repeating: "r", count: HTTPStageHandler.defaultMaxAnswerBytes)),
            ])
            let announced = await Self.run(handler)
            #expect(announced.failure?.kind == .transient)
            #expect(announced.failure?.reason.contains("larger than 65,536 bytes (65,537 bytes announced): refused") == true,
                    "\(announced)")
            let streamed = await Self.run(handler)
            #expect(streamed.failure?.kind == .transient)
            #expect(streamed.failure?.reason.contains("larger than 65,536 bytes: refused") == true, "\(streamed)")
            // At the limit: taken, and its reason cut.
            guard case .success(.held(let reason)) = await Self.run(handler) else {
                Issue.record("an answer of exactly the limit was not taken")
                return
            }
            #expect(reason.count == HTTPAnswer.maxReasonCharacters + 1)
        }
    }

    @Test("TLS: a certificate from a CA the client does not trust is refused (transient); with that CA trusted it works")
    func tls() async throws {
        let directory = ProcessInfo.processInfo.environment["PARCELFLOW_TLS_DIR"]
            ?? repositoryRoot.appendingPathComponent(".local/tls").path
        let files = (ca: "\(directory)/ca.pem", certificate: "\(directory)/server.pem", key: "\(directory)/server.key")
        try #require(FileManager.default.isReadableFile(atPath: files.key),
                     "the test TLS material (deploy/local/lib/tls.sh, made by deploy/local/broker.sh) is missing in \(directory)")
        try await Self.withHandler(tls: (files.certificate, files.key)) { server, handler in
            let refused = await Self.run(handler)
            #expect(refused.failure?.kind == .transient)
            #expect(refused.failure?.reason == "TLS with localhost:\(server.port) failed: its certificate is not trusted (CERTIFICATE_VERIFY_FAILED)",
                    "\(refused)")
            #expect(server.totals.requests == 0, "no request reached the server")
        }
        try await Self.withHandler(tls: (files.certificate, files.key), caFile: files.ca) { server, handler in
            let result = await Self.run(handler)
            guard case .success(.completed) = result else {
                Issue.record("with the CA trusted: \(result)")
                return
            }
            #expect(server.totals.requests == 1)
        }
        let missing = #expect(throws: HTTPHandlerClientError.self) {
            try HTTPHandlerClient(settings: .init(caFile: "\(directory)/no-such-ca.pem"), logger: Logger(label: "test"))
        }
        #expect(missing?.description.contains("no-such-ca.pem") == true)
    }
}
