import Foundation
import ParcelCore
import ParcelTestSupport
import Testing

@Suite("Task envelopes")
struct TaskEnvelopeTests {
    @Test("an envelope survives encoding and decoding, at every stage")
    func roundTrip() throws {
        let now = Timestamp.parse("2026-12-01T09:30:00.250Z")!
        let payloads: [Stage: StagePayload] = [
            .collection: StagePayload(),
            .packaging: StagePayload(collectedAt: now, collectionPoint: "depot-north"),
            .inspection: StagePayload(collectedAt: now, collectionPoint: "depot-north", packedAt: now, box: .smallBox),
            .delivery: StagePayload(collectedAt: now, collectionPoint: "depot-north", packedAt: now, box: .envelope,
                                    inspectedAt: now),
        ]
        for stage in Stage.allCases {
            let envelope = TaskEnvelope(parcel: sampleParcel, stage: stage, attempt: 2, createdAt: now, submittedAt: now,
                                        payload: payloads[stage]!)
            let decoded = try TaskEnvelope.decode(envelope.encoded()).get()
            #expect(decoded == envelope)
            #expect(decoded.taskID == "P-2026-000001:\(stage)")
        }
    }

    @Test("a broken task is refused with a reason naming the field", arguments: [
        ("not json", "not valid JSON"),
        (#"{"schema_version":2}"#, "schema_version: 2 is not supported"),
        (#"[1,2]"#, "expected an object"),
    ])
    func rejected(body: String, reason: String) {
        guard case .failure(let rejection) = TaskEnvelope.decode(Data(body.utf8)) else {
            Issue.record("accepted \(body)")
            return
        }
        #expect(rejection.reason.contains(reason), "\(rejection.reason)")
    }

    @Test("a packaging task without what collection recorded is refused")
    func payloadRequiredByStage() throws {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let envelope = TaskEnvelope(parcel: sampleParcel, stage: .packaging, createdAt: now, submittedAt: now)
        guard case .failure(let rejection) = TaskEnvelope.decode(envelope.encoded()) else {
            Issue.record("accepted a packaging task with no payload")
            return
        }
        #expect(rejection.reason.contains("payload.collected_at: is missing"))
    }

    @Test("text rules give the same answer on the ASCII fast path as by Unicode properties, for every character")
    func textRulesFastPath() {
        func expected(_ text: String) -> String? {
            if text.unicodeScalars.allSatisfy(\.properties.isWhitespace) { return "is empty" }
            if text.unicodeScalars.count > Parcel.maxTextLength { return "is longer than \(Parcel.maxTextLength) characters" }
            if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                return "contains a control character"
            }
            return nil
        }
        var samples = ["", String(repeating: "a", count: Parcel.maxTextLength), String(repeating: "a", count: Parcel.maxTextLength + 1)]
        for value in 0...0x7F {
            let character = String(UnicodeScalar(UInt8(value)))
            samples += [character, "Mama\(character)", " \(character) "]
        }
        samples += ["\u{85}", "\u{A0}\u{2003}", "Ma\u{9F}ma", "Yusuf 🏥"]
        for text in samples {
            var parcel = sampleParcel
            parcel.sender.name = text
            let issue = parcel.validationIssues.first { $0.field == "sender.name" }
            #expect(issue?.message == expected(text), "sender.name \(text.debugDescription)")
        }
    }

    @Test("timestamps are RFC 3339 in UTC with milliseconds")
    func timestamps() throws {
        let date = try #require(Timestamp.parse("2026-12-01T09:30:00.250Z"))
        #expect(Timestamp.format(date) == "2026-12-01T09:30:00.250Z")
        #expect(Timestamp.parse("2026-12-01T10:30:00.250+01:00") == date)
        #expect(Timestamp.parse("2026-12-01 09:30:00Z") == nil)
        #expect(Timestamp.parse("2026-13-01T09:30:00Z") == nil)
        #expect(Timestamp.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
    }
}
