import Foundation
@testable import ParcelCore
import Testing

/// The payload's wire format is declared once, in `StagePayload.fields`. These check that the list is
/// the whole of it — every stored property of `StagePayload`, every field of
/// `schemas/stage-payloads.v1.schema.json` — and that the encoder, the fast scanner and the thorough
/// reader, which all walk it, agree on every field in it: a field added to the list is covered here
/// without another line of test.
@Suite("Payload fields: one declaration")
struct PayloadFieldsTests {
    static let now = Timestamp.parse("2026-12-01T09:30:00.250Z")!
    static let parcel = ParcelGenerator(seed: 13).parcels(1)[0]

    /// A task for `stage` carrying what the stages before it record: their stand-ins.
    static func task(_ stage: Stage) -> TaskEnvelope {
        var task = TaskEnvelope(parcel: parcel, stage: stage, createdAt: now.addingTimeInterval(3_600), submittedAt: now)
        for earlier in Stage.allCases where earlier < stage {
            task.payload = task.payload.fillingIn(recordedBy: earlier, from: task,
                                                  at: now.addingTimeInterval(600 * Double(earlier.index + 1)))
        }
        return task
    }

    @Test("every stored property of StagePayload has exactly one entry, and the keys are distinct")
    func entriesCoverTheStruct() {
        let properties = Mirror(reflecting: StagePayload()).children.compactMap(\.label)
        var reached: [String] = []
        for field in StagePayload.fields {
            var payload = StagePayload()
            #expect(!field.isPresent(in: payload))
            field.fill(&payload, from: Self.task(.delivery), at: Self.now)
            #expect(field.isPresent(in: payload), "\(field.name)")
            let set = Mirror(reflecting: payload).children.filter { !isNil($0.value) }.compactMap(\.label)
            #expect(set.count == 1, "\(field.name) sets \(set)")
            reached += set
        }
        #expect(reached.sorted() == properties.sorted(), "a property without an entry, or two entries for one")
        #expect(Set(StagePayload.fields.map(\.name)).count == StagePayload.fields.count)
        #expect(StagePayload.keys == Set(StagePayload.fields.map(\.name)))
    }

    @Test("the entries are the schema's payload fields, each of its kind, recorded by its stage and required after it")
    func entriesAreTheSchema() throws {
        let schema = try SchemaFiles.json("stage-payloads.v1.schema.json")
        let properties = try #require(schema["$defs", "fields", "properties"]?.objectValue)
        #expect(Set(properties.keys) == Set(StagePayload.fields.map(\.name)))
        for field in StagePayload.fields {
            let property = properties[field.name]
            switch field.kind {
            case .timestamp:
                #expect(property?["$ref"] == .string("#/$defs/timestamp"), "\(field.name)")
            case .text:
                #expect(property?["$ref"] == .string("parcel.v1.schema.json#/$defs/text"), "\(field.name)")
            case .choice(let names):
                #expect(property?["$ref"] == .string("#/$defs/\(field.name)"), "\(field.name)")
                #expect(schema["$defs", field.name, "enum"]?.strings == names, "\(field.name)")
            }
            let description = property?["description"]?.stringValue ?? ""
            #expect(description.hasPrefix("Recorded by \(field.recordedBy):"), "\(field.name): \(description)")
        }
        for stage in Stage.allCases {
            let required = StagePayload.fields.filter { $0.recordedBy < stage }.map(\.name)
            #expect(StagePayload.requiredKeys(for: stage) == required, "\(stage)")
            #expect(schema["$defs", stage.rawValue, "required"]?.strings == required, "\(stage)")
        }
    }

    @Test("every field, at every stage, is written by the encoder and read back alike by the scanner and the thorough reader")
    func everyFieldRoundTrips() throws {
        for field in StagePayload.fields {
            for stage in Stage.allCases {
                // Any field may be present at any stage, required there or not.
                var task = Self.task(stage)
                field.fill(&task.payload, from: task, at: Self.now.addingTimeInterval(7.5))
                let body = task.encoded()
                let text = String(decoding: body, as: UTF8.self)
                #expect(text.contains("\"\(field.name)\":"), "\(field.name) at \(stage): \(text)")
                #expect(TaskEnvelope.scanValid(body) == task, "\(field.name) at \(stage): \(text)")
                #expect(try TaskEnvelope.decodeThoroughly(body).get() == task, "\(field.name) at \(stage)")
            }
        }
    }

    @Test("a field missing, wrong or repeated is never taken by the scanner; the thorough reader names it")
    func everyFieldIsChecked() throws {
        for field in StagePayload.fields {
            // The first stage that requires the field (a field the last stage records is never required).
            let stage = field.recordedBy.next ?? field.recordedBy
            var task = Self.task(stage)
            field.fill(&task.payload, from: task, at: Self.now)
            let body = String(decoding: task.encoded(), as: UTF8.self)
            let member = try #require(body.range(of: "\"\(field.name)\":\"[^\"]*\"", options: .regularExpression),
                                      "\(field.name) is not written as a string: \(body)")
            func replaced(_ value: String) -> String { body.replacingCharacters(in: member, with: "\"\(field.name)\":\(value)") }

            var wrong: [(body: String, problem: String)] = [(replaced("7"), "expected a string, got 7")]
            switch field.kind {
            case .timestamp: wrong.append((replaced(#""2026-12-01T09:30:00""#), "'2026-12-01T09:30:00' is not an RFC 3339 time"))
            case .text: wrong.append((replaced(#"" ""#), "is empty"))
            case .choice(let names): wrong.append((replaced(#""no-such-\#(field.name)""#), "(\(names.joined(separator: ", ")))"))
            }
            if field.recordedBy < stage {
                var missing = body
                missing.removeSubrange(member)
                missing = missing.replacingOccurrences(of: ",,", with: ",").replacingOccurrences(of: "{,", with: "{")
                    .replacingOccurrences(of: ",}", with: "}")
                wrong.append((missing, "is missing (every \(stage) task carries it)"))
            }
            for (damaged, problem) in wrong {
                let data = Data(damaged.utf8)
                #expect(TaskEnvelope.scanValid(data) == nil, "\(field.name): \(damaged)")
                guard case .failure(let rejection) = TaskEnvelope.decodeThoroughly(data) else {
                    Issue.record("accepted: \(damaged)")
                    continue
                }
                #expect(rejection.reason.contains("\(field.path): "), "\(rejection.reason)")
                #expect(rejection.reason.contains(problem), "\(rejection.reason)")
                #expect(TaskEnvelope.decode(data) == .failure(rejection))
            }

            // The same key twice: not for the fast path, and decode gives the thorough reading.
            let repeated = Data(body.replacingCharacters(in: member, with: "\(body[member]),\(body[member])").utf8)
            #expect(TaskEnvelope.scanValid(repeated) == nil, "\(field.name) twice")
            #expect(TaskEnvelope.decode(repeated) == TaskEnvelope.decodeThoroughly(repeated))
        }
    }

    @Test("what a stage records, filled in from the declaration, is what the next stage requires")
    func standInsCompleteTheNextStage() {
        for stage in Stage.allCases {
            guard let next = stage.next else { continue }
            let task = Self.task(stage)
            #expect(task.payload.carriesEverythingRequired(at: stage), "\(stage)")
            let filled = task.payload.fillingIn(recordedBy: stage, from: task, at: Self.now)
            #expect(filled.carriesEverythingRequired(at: next), "\(stage) → \(next)")
            // Filling in keeps what is there.
            #expect(filled.fillingIn(recordedBy: stage, from: task, at: Self.now.addingTimeInterval(1)) == filled)
        }
    }
}

/// Whether a value reached through `Mirror` is an optional holding nothing.
private func isNil(_ value: Any) -> Bool {
    let mirror = Mirror(reflecting: value)
    return mirror.displayStyle == .optional && mirror.children.isEmpty
}
