import Foundation
import ParcelCore
@testable import ParcelHTTPHandler
import ParcelTestSupport
import ParcelWorkerRuntime
import Testing

/// The status mapping and the checks on what a service says, without a network (the same rows run
/// against a real server in HTTPStageHandlerTests).
@Suite("HTTP handler: what an answer means")
struct HTTPAnswerTests {
    static let now = Date(timeIntervalSince1970: 1_796_000_000)

    static func task(_ stage: Stage) -> TaskEnvelope {
        let payload = StagePayload(collectedAt: now, collectionPoint: "depot-north", packedAt: now, box: .smallBox,
                                   inspectedAt: now)
        var kept = StagePayload()
        for key in StagePayload.requiredKeys(for: stage) {
            switch key {
            case "collected_at": kept.collectedAt = payload.collectedAt
            case "collection_point": kept.collectionPoint = payload.collectionPoint
            case "packed_at": kept.packedAt = payload.packedAt
            case "box": kept.box = payload.box
            case "inspected_at": kept.inspectedAt = payload.inspectedAt
            default: Issue.record("a payload field this test does not know: \(key)")
            }
        }
        return TaskEnvelope(parcel: sampleParcel, stage: stage, createdAt: now, submittedAt: now, payload: kept)
    }

    func outcome(_ status: Int, _ body: String = "", retryAfter: String? = nil, stage: Stage = .packaging)
        -> Result<StageOutcome, TaskFailure>
    {
        HTTPAnswer.outcome(status: status, retryAfter: retryAfter, body: Data(body.utf8), task: Self.task(stage),
                           from: "carrier.example:443", now: Self.now)
    }

    @Test("2xx: done; fields the stage records override the stand-ins, the rest are filled in")
    func success() throws {
        let plain = try outcome(204).get()
        #expect(plain == .completed(Self.task(.packaging).payload.fillingIn(recordedBy: .packaging, from: Self.task(.packaging), at: Self.now)))
        guard case .completed(let payload) = try outcome(200, #"{"box": "large_box"}"#).get() else {
            Issue.record("not completed")
            return
        }
        #expect(payload.box == .largeBox)
        #expect(payload.packedAt == Self.now, "the stand-in for a field not given")
        #expect(payload.collectionPoint == "depot-north", "what earlier stages recorded is carried")
        guard case .completed(let timed) = try outcome(201, #"{"packed_at": "2026-12-01T09:30:00.000Z", "box": "envelope"}"#).get() else {
            Issue.record("not completed")
            return
        }
        #expect(timed.packedAt == Timestamp.parse("2026-12-01T09:30:00.000Z") && timed.box == .envelope)
    }

    @Test("2xx with another stage's field, an unknown key, a wrong type or no JSON object: permanent, naming the field")
    func forgedFields() {
        let forged = outcome(200, #"{"box": "envelope", "inspected_at": "2026-12-01T09:30:00.000Z"}"#)
        #expect(forged.failure?.kind == .permanent)
        #expect(forged.failure?.reason.contains("payload.inspected_at: is recorded by inspection, not by packaging") == true,
                "\(String(describing: forged.failure))")
        let earlier = outcome(200, #"{"collection_point": "elsewhere"}"#)
        #expect(earlier.failure?.reason.contains("payload.collection_point: is recorded by collection") == true)
        let unknown = outcome(200, #"{"colour": "red"}"#)
        #expect(unknown.failure?.reason.contains("payload.colour: is not a payload field") == true)
        let mistyped = outcome(200, #"{"box": 3}"#)
        #expect(mistyped.failure?.reason.contains("payload.box: expected a string, got 3") == true)
        let notABox = outcome(200, #"{"box": "crate"}"#)
        #expect(notABox.failure?.reason.contains("'crate' is not a box") == true)
        let text = outcome(200, "OK")
        #expect(text.failure?.kind == .permanent && text.failure?.reason.contains("not JSON") == true)
        let array = outcome(200, "[1]")
        #expect(array.failure?.reason.contains("an array, not an object") == true)
        // Delivery records nothing: any field is another stage's.
        let delivery = outcome(200, #"{"box": "envelope"}"#, stage: .delivery)
        #expect(delivery.failure?.reason.contains("payload.box: is recorded by packaging, not by delivery") == true)
        // A key is echoed cut, not whole.
        let long = outcome(200, "{\"\(String(repeating: "k", count: 5_000))\": 1}")
        #expect((long.failure?.reason.utf8.count ?? .max) < 400)
    }

    @Test("the other rows: 409 done, 400/422 permanent, 423 held, 429/503 transient after Retry-After, 5xx/408 transient, 3xx/4xx permanent")
    func statuses() {
        #expect(outcome(409) == .success(.completed(Self.task(.packaging).payload.fillingIn(
            recordedBy: .packaging, from: Self.task(.packaging), at: Self.now))))
        #expect(outcome(400, #"{"reason": "weight missing"}"#).failure == .permanent("HTTP 400 from carrier.example:443: weight missing"))
        #expect(outcome(422, "no such ward").failure == .permanent("HTTP 422 from carrier.example:443: no such ward"))
        #expect(outcome(423, #"{"reason": "customs check"}"#) == .success(.held(reason: "customs check")))
        #expect(outcome(423) == .success(.held(reason: "held by carrier.example:443 (HTTP 423, no reason given)")))
        #expect(outcome(429, retryAfter: "7").failure == .transient("HTTP 429 from carrier.example:443 (retry after 7 s)", retryAfter: .seconds(7)))
        #expect(outcome(503, retryAfter: "Sun, 30 Nov 2026 00:53:40 GMT").failure?.retryAfter == .seconds(20))
        #expect(outcome(503).failure == .transient("HTTP 503 from carrier.example:443"))
        #expect(outcome(503, retryAfter: "soon").failure == .transient("HTTP 503 from carrier.example:443"))
        for status in [500, 502, 504, 408, 425] {
            #expect(outcome(status).failure?.kind == .transient, "\(status)")
            #expect(outcome(status).failure?.retryAfter == nil)
        }
        for status in [301, 302, 307, 308, 401, 403, 404, 405, 410, 413, 415] {
            #expect(outcome(status).failure?.kind == .permanent, "\(status)")
        }
        #expect(outcome(302).failure?.reason.contains("redirects are not followed") == true)
    }

    @Test("Retry-After: seconds or an HTTP date, bounded to a day, never trapping; anything else is ignored")
    func retryAfter() {
        let now = Self.now  // 2026-11-30T00:53:20Z
        #expect(HTTPAnswer.retryAfter("0", now: now) == .zero)
        #expect(HTTPAnswer.retryAfter(" 120 ", now: now) == .seconds(120))
        #expect(HTTPAnswer.retryAfter("86399", now: now) == .seconds(86_399))
        #expect(HTTPAnswer.retryAfter("86401", now: now) == HTTPAnswer.maxRetryAfter)
        #expect(HTTPAnswer.retryAfter(String(repeating: "9", count: 400), now: now) == HTTPAnswer.maxRetryAfter)
        #expect(HTTPAnswer.retryAfter("Mon, 30 Nov 2026 00:55:00 GMT", now: now) == .seconds(100))
        #expect(HTTPAnswer.retryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now: now) == .zero, "a date past: at once")
        #expect(HTTPAnswer.retryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now: now) == HTTPAnswer.maxRetryAfter)
        for bad in ["", "-1", "1.5", "+3", "0x10", "in a while", "Mon, 30 Nov 2026 11:35:00 UTC", "Mon, 31 Nov 2026 25:00:00 GMT",
                    "Monday, 30-Nov-26 11:35:00 GMT", "٣"] {
            #expect(HTTPAnswer.retryAfter(bad, now: now) == nil, "\(bad)")
        }
    }

    @Test("a reason from a body: the JSON reason or the text, control and bidi characters as spaces, cut to 500 characters")
    func reasons() {
        #expect(HTTPAnswer.reason(from: Data(#"{"reason": "ward\nclosed\u001b[2J", "code": 7}"#.utf8)) == "ward closed [2J")
        #expect(HTTPAnswer.reason(from: Data("  wrong\r\n ward \u{202E}txt.exe  ".utf8)) == "wrong ward txt.exe")
        #expect(HTTPAnswer.reason(from: Data(#"{"error": "x"}"#.utf8)) == #"{"error": "x"}"#, "JSON without a reason: as text")
        let long = HTTPAnswer.reason(from: Data(String(repeating: "é", count: 5_000).utf8))
        #expect(long.count == HTTPAnswer.maxReasonCharacters + 1 && long.hasSuffix("…"))
        #expect(HTTPAnswer.reason(from: Data([0xFF, 0xFE, 0x41])) == "\u{FFFD}\u{FFFD}A", "bytes that are not UTF-8 are replaced")
        #expect(HTTPAnswer.reason(from: Data()) == "")
    }

    @Test("credentials in the URL: sent as basic authentication, never shown")
    func credentials() throws {
        let endpoint = try HandoverEndpoint("https://carrier:s3cret@carrier.example/handover?token=abc")
        #expect(endpoint.url == "https://carrier.example/handover?token=abc")
        #expect(endpoint.authorization == "Basic " + Data("carrier:s3cret".utf8).base64EncodedString())
        #expect(endpoint.description == "https://carrier.example:443/handover")
        #expect(endpoint.host == "carrier.example:443")
        #expect(HandlerKind.http(url: "https://carrier:s3cret@carrier.example/handover").description
                    == "http:https://…@carrier.example/handover")
        #expect(HandlerKind.withoutCredentials("http://a@b:c@host:8080/x@y") == "http://…@host:8080/x@y")
        #expect(HandlerKind.withoutCredentials("http://host/x@y") == "http://host/x@y")
        let twice = #expect(throws: HandlerChoiceError.self) {
            try HandlerChoice(parsing: ["delivery=http:https://u:s3cret@a.example/", "delivery=http:https://u:s3cret@b.example/"],
                              source: "--handler")
        }
        #expect(twice?.description.contains("s3cret") == false)
        for (url, problem) in [("ftp://u:s3cret@host/", "scheme"), ("https://u:s3cret@/x", "no host"),
                               ("https://u:s3cret@host/x#part", "fragment")] {
            let error = #expect(throws: HandoverEndpointError.self) { try HandoverEndpoint(url) }
            #expect(error?.description.contains(problem) == true, "\(url): \(String(describing: error))")
            #expect(error?.description.contains("s3cret") == false)
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
