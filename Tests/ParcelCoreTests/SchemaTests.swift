import Foundation
import ParcelCore
import ParcelTestSupport
import Testing

/// `schemas/` against the Swift code: what the Swift side writes validates with a real JSON Schema
/// validator (Python's jsonschema, through `schemas/validate.py`), the valid examples decode, the
/// invalid ones are refused by both with the expected reason, and the schemas' enums and limits are
/// the Swift ones.
@Suite("Schemas")
struct SchemaTests {
    // MARK: (a) what the Swift code publishes

    @Test("envelopes the Swift code encodes validate: every stage, unicode and quotes, attempts > 1")
    func encodedEnvelopesValidate() async throws {
        let envelopes = SchemaFixtures.envelopes()
        #expect(Set(envelopes.map(\.stage)) == Set(Stage.allCases))
        let results = try await Validator.validate(lines: envelopes.map { $0.encoded() }, against: "task-envelope")
        for (envelope, result) in zip(envelopes, results) {
            #expect(result == "ok", "\(envelope.taskID) attempt \(envelope.attempt): \(result)")
            #expect(try TaskEnvelope.decode(envelope.encoded()).get() == envelope)
        }
    }

    @Test("the parcel inside an encoded envelope is a valid parcel on its own (one JSON Lines record)")
    func encodedParcelsValidate() async throws {
        let envelopes = SchemaFixtures.envelopes().filter { $0.stage == .collection }
        var lines: [Data] = []
        for envelope in envelopes {
            let object = try #require(JSONSerialization.jsonObject(with: envelope.encoded()) as? [String: Any])
            let parcel = try #require(object["parcel"])
            lines.append(try JSONSerialization.data(withJSONObject: parcel))
        }
        let results = try await Validator.validate(lines: lines, against: "parcel")
        #expect(results == Array(repeating: "ok", count: lines.count))
    }

    // MARK: (b) valid examples

    @Test("every valid example validates, decodes, and re-encodes to something that validates")
    func validExamples() async throws {
        let files = SchemaFiles.list("examples/valid", ext: "json")
        #expect(files.count >= 7, "\(files.map(\.lastPathComponent))")
        let results = try await Validator.validate(files: files, against: "task-envelope")
        var decoded: [TaskEnvelope] = []
        for (file, result) in zip(files, results) {
            #expect(result == "ok", "python: \(file.lastPathComponent): \(result)")
            switch TaskEnvelope.decode(try Data(contentsOf: file)) {
            case .success(let envelope): decoded.append(envelope)
            case .failure(let rejection): Issue.record("Swift refused \(file.lastPathComponent): \(rejection.reason)")
            }
        }
        let reencoded = decoded.map { $0.encoded() }
        let again = try await Validator.validate(lines: reencoded, against: "task-envelope")
        #expect(again == Array(repeating: "ok", count: reencoded.count), "re-encoded: \(again)")
        for (envelope, data) in zip(decoded, reencoded) {
            #expect(try TaskEnvelope.decode(data).get() == envelope)
        }
        // What the examples are there to show.
        #expect(Set(decoded.map(\.stage)) == Set(Stage.allCases))
        #expect(decoded.contains { $0.attempt == 3 })
        #expect(decoded.contains { $0.parcel.contents.letters == 0 && $0.parcel.contents.drawings > 0 })
        #expect(decoded.contains { !$0.parcel.sender.name.unicodeScalars.allSatisfy(\.isASCII) })
        #expect(decoded.contains { $0.parcel.sender.name.contains("\"") })
        #expect(decoded.contains { !$0.parcel.contents.items.isEmpty })
    }

    // MARK: (c) invalid examples

    @Test("every invalid example is refused by the schema and by the Swift decoder, with the expected reason")
    func invalidExamples() async throws {
        let files = SchemaFiles.list("examples/invalid", ext: "json")
        #expect(files.count >= 13)
        let results = try await Validator.validate(files: files, against: "task-envelope")
        for (file, result) in zip(files, results) {
            let name = file.lastPathComponent
            #expect(result.hasPrefix("invalid: "), "python accepted \(name)")
            try Self.expectRefusedBySwift(file)
        }
        // Each example is in the README's table, and each .expect has its example.
        let readme = try String(contentsOf: SchemaFiles.url("examples/invalid/README.md"), encoding: .utf8)
        for file in files { #expect(readme.contains(file.lastPathComponent), "README.md lacks \(file.lastPathComponent)") }
        for expect in SchemaFiles.list("examples/invalid", ext: "expect") {
            let example = expect.deletingPathExtension().appendingPathExtension("json")
            #expect(FileManager.default.fileExists(atPath: example.path), "\(expect.lastPathComponent) has no example")
        }
    }

    @Test("what JSON Schema cannot check (one field against another) the Swift decoder refuses")
    func invalidBeyondSchema() async throws {
        let files = SchemaFiles.list("examples/invalid-beyond-schema", ext: "json")
        #expect(!files.isEmpty)
        let results = try await Validator.validate(files: files, against: "task-envelope")
        let readme = try String(contentsOf: SchemaFiles.url("examples/invalid/README.md"), encoding: .utf8)
        for (file, result) in zip(files, results) {
            // If the schema learns to refuse one of these, move it to examples/invalid.
            #expect(result == "ok", "\(file.lastPathComponent): \(result)")
            try Self.expectRefusedBySwift(file)
            #expect(readme.contains(file.lastPathComponent), "examples/invalid/README.md lacks \(file.lastPathComponent)")
        }
    }

    /// The Swift decoder refuses `file` with a reason holding every line of the `.expect` file beside it.
    static func expectRefusedBySwift(_ file: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let name = file.lastPathComponent
        let expectFile = file.deletingPathExtension().appendingPathExtension("expect")
        let expected = try String(contentsOf: expectFile, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(!expected.isEmpty, "\(expectFile.lastPathComponent) is empty", sourceLocation: sourceLocation)
        switch TaskEnvelope.decode(try Data(contentsOf: file)) {
        case .success:
            Issue.record("the Swift decoder accepted \(name)", sourceLocation: sourceLocation)
        case .failure(let rejection):
            for part in expected {
                #expect(rejection.reason.contains(part), "\(name): reason \"\(rejection.reason)\" lacks \"\(part)\"",
                        sourceLocation: sourceLocation)
            }
        }
    }

    // MARK: edge cases where the two once disagreed

    @Test("edge cases the schemas refuse, the Swift decoder refuses too (and never crashes on them)")
    func edgeCasesAgree() async throws {
        let cases = SchemaFixtures.disagreements()
        let results = try await Validator.validate(lines: cases.map(\.body), against: "task-envelope")
        for (item, result) in zip(cases, results) {
            #expect(result.hasPrefix("invalid: "), "python accepted: \(item.what)")
            if case .success = TaskEnvelope.decode(item.body) { Issue.record("the Swift decoder accepts \(item.what)") }
        }
    }
}

// MARK: - Fixtures

private enum SchemaFixtures {
    static let parcels: [Parcel] = [
        Parcel(id: "P-2026-000001", sender: .init(name: "Amina \"Mama\" Haddad", relation: .mother),
               recipient: .init(name: "Yusuf Haddad", facility: "Ward 3, St. Mary's — North wing 🏥"),
               contents: .init(letters: 2, drawings: 1, items: ["chocolate", "a \"lucky\" stone 🪨", "Zoë's drawing\u{00A0}set"]),
               weightGrams: 120, origin: "depot-north"),
        Parcel(id: "kids.0042_b", sender: .init(name: "Zoë Ó Briain-Nguyễn \\ 李小龍 / محمد", relation: .grandchild),
               recipient: .init(name: "👨‍👩‍👧 'Nana' Ölçek", facility: "Station\u{2028}Halley VI\u{00A0}🐧"),
               contents: .init(letters: 0, drawings: 7), weightGrams: Parcel.maxWeightGrams, origin: "school-drop-7"),
        Parcel(id: String(repeating: "9", count: Parcel.maxIDLength),
               sender: .init(name: String(repeating: "x", count: Parcel.maxTextLength), relation: .friend),
               recipient: .init(name: "R", facility: "F"), contents: .init(letters: 1, drawings: 0), weightGrams: 1,
               origin: "  depot  with spaces "),
    ]

    /// Every stage of every parcel, at attempts 1, 2 and 5, with the payload the stage requires.
    static func envelopes() -> [TaskEnvelope] {
        let submitted = Timestamp.parse("2026-12-01T09:30:00.250Z")!
        let later = Timestamp.parse("2027-01-31T23:59:59.999Z")!
        let early = Date(timeIntervalSince1970: -0.5)
        let payloads: [Stage: StagePayload] = [
            .collection: StagePayload(),
            .packaging: StagePayload(collectedAt: submitted, collectionPoint: "depot-north"),
            .inspection: StagePayload(collectedAt: early, collectionPoint: "Gare du Nord — quai 3", packedAt: later,
                                      box: .largeBox),
            .delivery: StagePayload(collectedAt: submitted, collectionPoint: "depot \"north\"", packedAt: submitted,
                                    box: .envelope, inspectedAt: later),
        ]
        var envelopes: [TaskEnvelope] = []
        for parcel in parcels {
            for stage in Stage.allCases {
                for attempt in [1, 2, 5] {
                    envelopes.append(TaskEnvelope(parcel: parcel, stage: stage, attempt: attempt, createdAt: later,
                                                  submittedAt: submitted, payload: payloads[stage]!))
                }
            }
        }
        return envelopes
    }

    struct Disagreement {
        var what: String
        var body: Data
    }

    /// Bodies the schemas refuse but the Swift decoder accepts (reported; see schemas/README.md).
    static func disagreements() -> [Disagreement] {
        let now = Timestamp.parse("2026-12-01T09:30:00.250Z")!
        let parcel = parcels[0]
        func body(_ edit: (inout [String: Any]) -> Void, stage: Stage = .collection,
                  payload: StagePayload = StagePayload(), parcel: Parcel = parcel) -> Data {
            let envelope = TaskEnvelope(parcel: parcel, stage: stage, createdAt: now, submittedAt: now, payload: payload)
            var object = try! JSONSerialization.jsonObject(with: envelope.encoded()) as! [String: Any]
            edit(&object)
            return try! JSONSerialization.data(withJSONObject: object)
        }
        func editParcel(_ edit: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
            { object in
                var p = object["parcel"] as! [String: Any]
                edit(&p)
                object["parcel"] = p
            }
        }
        // 100 × "e" + U+0301: 100 Characters for Swift, 200 code points for JSON Schema's maxLength.
        var combining = parcel
        combining.sender.name = String(repeating: "e\u{0301}", count: 100)
        return [
            Disagreement(what: "a text of at most 120 Characters but more than 120 code points (Swift counts graphemes)",
                         body: body({ _ in }, parcel: combining)),
            Disagreement(what: "a relation in capitals with spaces (the JSON reader trims and lowercases it)",
                         body: body(editParcel { p in p["sender"] = ["name": "A", "relation": " Mother "] })),
            Disagreement(what: "a date that does not exist (Timestamp.parse takes 2026-02-31 as 2026-03-03)",
                         body: body({ $0["created_at"] = "2026-02-31T09:30:00Z" })),
            Disagreement(what: "a time-zone offset out of range (Timestamp.parse takes +99:99)",
                         body: body({ $0["created_at"] = "2026-12-01T09:30:00+99:99" })),
            Disagreement(what: "an empty collection_point (the decoder checks only that it is a string)",
                         body: body({ _ in }, stage: .packaging, payload: StagePayload(collectedAt: now, collectionPoint: ""))),
            Disagreement(what: "letters at Int64.max (above the limit; adding them to drawings once trapped on overflow)",
                         body: body(editParcel { p in p["contents"] = ["letters": Int64.max, "drawings": 1] })),
        ]
    }
}

// MARK: - Files

/// The files under `schemas/` (`PayloadFieldsTests` reads them too).
enum SchemaFiles {
    static let schemas = repositoryRoot.appendingPathComponent("schemas")

    static func url(_ path: String) -> URL { schemas.appendingPathComponent(path) }

    /// The files in `schemas/<directory>` ending in `.<ext>`, sorted by name.
    static func list(_ directory: String, ext: String) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url(directory).path)) ?? []
        return names.filter { $0.hasSuffix(".\(ext)") }.sorted().map { url(directory).appendingPathComponent($0) }
    }

    static func json(_ path: String) throws -> JSONValue {
        try #require(JSONValue.parse(try Data(contentsOf: url(path))), "\(path) is not JSON")
    }
}

// MARK: - Python and schemas/validate.py

private struct PythonMissing: Error, CustomStringConvertible {
    var tried: [String]
    var description: String {
        "no python3 with the jsonschema and yaml modules (tried \(tried.joined(separator: ", "))): "
            + "run ./deploy/local/test.sh, which installs python3-jsonschema and python3-yaml"
    }
}

/// The Python that runs schemas/validate.py: $PARCELFLOW_PYTHON, else Debian's /usr/bin/python3 (where
/// apt puts python3-jsonschema), else python3 on PATH — the first that imports jsonschema and yaml.
actor Python {
    private static let shared = Python()
    private var found: Result<String, PythonMissing>?

    static func interpreter() async throws -> String { try await shared.locate().get() }

    private func locate() async -> Result<String, PythonMissing> {
        if let found { return found }
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let chosen = environment["PARCELFLOW_PYTHON"], !chosen.isEmpty { candidates.append(chosen) }
        candidates.append("/usr/bin/python3")
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(directory)/python3")
        }
        var tried: [String] = []
        var result: Result<String, PythonMissing> = .failure(PythonMissing(tried: []))
        for candidate in candidates where !tried.contains(candidate) {
            tried.append(candidate)
            guard FileManager.default.isExecutableFile(atPath: candidate) else { continue }
            if let run = try? await runChild(URL(fileURLWithPath: candidate), ["-c", "import jsonschema, yaml"]), run.status == 0 {
                result = .success(candidate)
                break
            }
        }
        if case .failure = result { result = .failure(PythonMissing(tried: tried)) }
        found = result
        return result
    }
}

enum Validator {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// `python3 schemas/validate.py ARGS`.
    static func run(_ arguments: [String], stdin: Data = Data()) async throws -> Output {
        let python = try await Python.interpreter()
        let result = try await runChild(URL(fileURLWithPath: python), [SchemaFiles.url("validate.py").path] + arguments,
                                        stdin: stdin)
        #expect(result.status == 0 || result.status == 1, "validate.py failed: \(result.errors)")
        return Output(status: result.status, stdout: result.output, stderr: result.errors)
    }

    /// One result per document ("ok" or "invalid: <path>: <message>"), each document one line on stdin.
    static func validate(lines documents: [Data], against schema: String) async throws -> [String] {
        var input = Data()
        for document in documents {
            #expect(!document.contains(UInt8(ascii: "\n")), "a document for stdin must be one line")
            input += document + Data("\n".utf8)
        }
        let output = try await run([schema], stdin: input)
        let results = output.lines.enumerated().map { index, line in
            line.hasPrefix("stdin:\(index + 1): ") ? String(line.dropFirst("stdin:\(index + 1): ".count)) : line
        }
        try #require(results.count == documents.count, "validate.py: \(output.stdout)\(output.stderr)")
        #expect((output.status == 0) == results.allSatisfy { $0 == "ok" })
        return results
    }

    /// One result per file.
    static func validate(files: [URL], against schema: String) async throws -> [String] {
        let output = try await run([schema] + files.map(\.path))
        let results = zip(files, output.lines).map { file, line in
            line.hasPrefix("\(file.path): ") ? String(line.dropFirst("\(file.path): ".count)) : line
        }
        try #require(results.count == files.count && output.lines.count == files.count,
                     "validate.py: \(output.stdout)\(output.stderr)")
        return results
    }
}

// MARK: - Helpers

/// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields).
enum CSV {
    static func fields(_ line: String) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var characters = Array(line.hasSuffix("\r") ? String(line.dropLast()) : line)[...]
        while let character = characters.popFirst() {
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" {
                        field.append("\"")
                        characters.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                fields.append(field)
                field = ""
            } else {
                field.append(character)
            }
        }
        fields.append(field)
        return fields
    }
}

extension JSONValue {
    subscript(_ keys: String...) -> JSONValue? {
        var value: JSONValue? = self
        for key in keys {
            guard case .object(let object)? = value else { return nil }
            value = object[key]
        }
        return value
    }

    var objectValue: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    var integerValue: Int? { if case .integer(let i) = self { Int(i) } else { nil } }
    var strings: [String]? { arrayValue.map { $0.compactMap(\.stringValue) } }

    /// The value as Foundation objects, for JSONSerialization.
    var foundation: Any {
        switch self {
        case .null: NSNull()
        case .bool(let b): b
        case .integer(let i): i
        case .number(let d): d
        case .string(let s): s
        case .array(let a): a.map(\.foundation)
        case .object(let o): o.mapValues(\.foundation)
        }
    }
}
