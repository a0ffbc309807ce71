import Foundation
@testable import ParcelCore
import ParcelTestSupport
import Testing

/// The inspection rules file: the example in deploy/ loads (and validates against its schema), and
/// broken files are refused with every problem naming the file, the line and the field.
@Suite("Inspection rules file")
struct InspectionRulesFileTests {
    static let example = repositoryRoot.appendingPathComponent("deploy/handlers/inspection-rules.json")

    /// The problems in `text`, one `FILE:LINE: FIELD: MESSAGE` line each.
    func problems(_ text: String, file: String = "rules.json") -> [String] {
        do {
            _ = try InspectionRules.parse(Array(text.utf8), file: file)
            return []
        } catch {
            return error.description.split(separator: "\n").map(String.init)
        }
    }

    @Test("the example file loads: its sections, limits and blocked items as written")
    func exampleLoads() throws {
        let rules = try InspectionRules.load(path: Self.example.path)
        #expect(rules.defaults.maxWeightGrams == 20000)
        #expect(rules.defaults.blockedItems.contains("batteries"))
        let frigate = try #require(rules.facilities[InspectionRules.matchKey("Frigate Resolute")])
        #expect(frigate.path == #"facilities["Frigate Resolute"]"#)
        #expect(frigate.limits == .init(maxWeightGrams: 2000, maxLetters: 20, acceptsDrawings: false))
        #expect(rules.origins[InspectionRules.matchKey("school-drop-7")]?.limits.blockedItems == ["glitter"])
    }

    @Test("the example file validates against schemas/inspection-rules.v1.schema.json, and the schema's limits are the Swift ones")
    func exampleMatchesSchema() async throws {
        let result = try await Validator.run(["inspection-rules", Self.example.path])
        #expect(result.lines == ["\(Self.example.path): ok"], "\(result.stdout)\(result.stderr)")
        let schema = try SchemaFiles.json("inspection-rules.v1.schema.json")
        #expect(schema["properties", "schema_version", "const"]?.integerValue == InspectionRules.schemaVersion)
        #expect(schema["required"]?.strings == ["schema_version"])
        #expect(schema["additionalProperties"] == .bool(false))
        let limits = try #require(schema["$defs", "limits"])
        #expect(limits["additionalProperties"] == .bool(false))
        #expect(limits["properties"]?.objectValue.map { Set($0.keys) }
            == ["max_weight_grams", "max_letters", "max_drawings", "accepts_drawings", "blocked_items"])
        #expect(limits["properties", "max_weight_grams", "maximum"]?.integerValue == Parcel.maxWeightGrams)
        #expect(limits["properties", "max_letters", "maximum"]?.integerValue == Parcel.maxItems)
        #expect(limits["properties", "max_drawings", "maximum"]?.integerValue == Parcel.maxItems)
        #expect(limits["properties", "blocked_items", "maxItems"]?.integerValue == InspectionRules.maxBlockedItems)
        let parcel = try SchemaFiles.json("parcel.v1.schema.json")
        #expect(parcel["$defs", "item", "maxLength"]?.integerValue == Parcel.maxItemLength)
        #expect(parcel["properties", "contents", "properties", "items", "maxItems"]?.integerValue == Parcel.maxDeclaredItems)
    }

    @Test("broken files the schema refuses too: each problem names the file, the line and the field")
    func brokenFields() async throws {
        let text = """
            {
              "schema_version": 1,
              "defaults": { "max_weight_grams": 0, "blocked_items": ["batteries", "", 7] },
              "facilities": {
                "Frigate Resolute": {
                  "max_weight_grams": 2000.5,
                  "accepts_drawings": "no",
                  "max_leters": 20
                },
                "Ward 3": [],
                "  ": {}
              },
              "origins": { "depot-north": { "max_drawings": 1001 } },
              "blocked": ["lighter"]
            }
            """
        #expect(problems(text, file: "deploy/handlers/inspection-rules.json") == [
            "deploy/handlers/inspection-rules.json:3: defaults.max_weight_grams: must be a whole number from 1 to 30000 (got 0)",
            "deploy/handlers/inspection-rules.json:3: defaults.blocked_items[1]: an item name is empty",
            "deploy/handlers/inspection-rules.json:3: defaults.blocked_items[2]: expected an item name (a string), got 7",
            #"deploy/handlers/inspection-rules.json:6: facilities["Frigate Resolute"].max_weight_grams: must be a whole number from 1 to 30000 (got 2000.5)"#,
            #"deploy/handlers/inspection-rules.json:7: facilities["Frigate Resolute"].accepts_drawings: must be true or false (got "no")"#,
            #"deploy/handlers/inspection-rules.json:8: facilities["Frigate Resolute"].max_leters: is not a known field (known: max_weight_grams, max_letters, max_drawings, accepts_drawings, blocked_items)"#,
            #"deploy/handlers/inspection-rules.json:10: facilities["Ward 3"]: expected an object (rules), got an array"#,
            #"deploy/handlers/inspection-rules.json:11: facilities["  "]: the facility name is empty"#,
            #"deploy/handlers/inspection-rules.json:13: origins["depot-north"].max_drawings: must be a whole number from 0 to 1000 (got 1001)"#,
            "deploy/handlers/inspection-rules.json:14: blocked: is not a known field (known: schema_version, description, defaults, facilities, origins)",
        ])
        // The schema refuses the same file (the schema and the loader agree on what is wrong).
        let result = try await Validator.validate(lines: [Data(text.split(separator: "\n").joined().utf8)], against: "inspection-rules")
        #expect(result.first?.hasPrefix("invalid: ") == true, "\(result)")
    }

    @Test("broken files: syntax, a repeated key, a facility twice, a version, depth, size, encoding, not a file")
    func brokenFiles() throws {
        #expect(problems("{\n  \"schema_version\": 1,\n  \"defaults\": { \"max_letters\": 3 \n  \"facilities\": {}\n}")
            == [#"rules.json:4: not valid JSON: expected ',' or '}' after a member, found '"' (column 3)"#])
        #expect(problems("{\n  \"schema_version\": 1,\n  \"defaults\": {\n    \"max_letters\": 3,\n    \"max_letters\": 30\n  }\n}")
            == ["rules.json:5: not valid JSON: the key 'max_letters' appears twice in one object (first on line 4)"])
        #expect(problems("{\"schema_version\": 1,\n\"facilities\": {\n\"Frigate Resolute\": {},\n\"frigate  resolute\": {}}}") == [
            #"rules.json:4: facilities["frigate  resolute"]: is the same facility as facilities["Frigate Resolute"] on line 3 (names match ignoring case and spaces): merge the two"#,
        ])
        #expect(problems("{\n\"defaults\": {}\n}") == [#"rules.json:1: schema_version: is missing (write "schema_version": 1)"#])
        #expect(problems("{\"schema_version\": 2}") == ["rules.json:1: schema_version: 2 is not supported (this program reads version 1)"])
        #expect(problems("[]") == ["rules.json:1: expected an object (the rules), got an array"])
        #expect(problems("") == ["rules.json:1: not valid JSON: expected a value, found the end of the file (column 1)"])
        #expect(problems("{\"schema_version\": 1}\n{}") == ["rules.json:2: not valid JSON: unexpected text after the end of the JSON value (column 1)"])
        #expect(problems("{\"schema_version\": 1, \"description\": \"a\nb\"}") == ["rules.json:1: not valid JSON: a string is not closed on its line (column 40)"])
        // Escapes and numbers (JSONLexing, shared with the task parser), each problem where it is.
        func description(_ text: String) -> [String] { problems("{\"schema_version\": 1, \"description\": \(text)}") }
        #expect(description(#""a\qb""#) == [#"rules.json:1: not valid JSON: '\q' is not a JSON escape (column 41)"#])
        #expect(description(#""a\u12g4""#) == [#"rules.json:1: not valid JSON: \u needs four hexadecimal digits (column 44)"#])
        #expect(description(#""\ud83d x""#) == [#"rules.json:1: not valid JSON: a \u escape of a high surrogate without its low surrogate (column 45)"#])
        #expect(description(#""\ude00""#) == [#"rules.json:1: not valid JSON: a \u escape of a lone low surrogate (column 45)"#])
        #expect(problems("{\"schema_version\": 01}") == ["rules.json:1: not valid JSON: a number may not start with 0 (column 21)"])
        #expect(problems("{\"schema_version\": 1.}") == ["rules.json:1: not valid JSON: expected a digit, found '}' (column 22)"])
        #expect(problems("{\"schema_version\": -}") == ["rules.json:1: not valid JSON: expected a digit, found '}' (column 21)"])
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        #expect(problems("{\"schema_version\": 1, \"x\": \(deep)}") == ["rules.json:1: not valid JSON: nested deeper than 16 levels (column 43)"])
        let latin1 = Array("{\n\"schema_version\": 1,\n\"description\": \"caf".utf8) + [0xE9] + Array("\"}".utf8)
        do {
            _ = try InspectionRules.parse(latin1, file: "r.json")
            Issue.record("accepted bytes that are not UTF-8")
        } catch {
            #expect(error.description == "r.json:3: not valid JSON: not valid UTF-8 (save the file as UTF-8)")
        }
        // An escape in the file is kept out of the terminal's way when the error is printed.
        #expect(problems("{\"schema_version\": 1, \"facilities\": {\"A\\u001b[2J\": {\"x\": 1}}}")
            == [#"rules.json:1: facilities["A\u001b[2J"]: the facility name contains a control character"#,
                #"rules.json:1: facilities["A\u001b[2J"].x: is not a known field (known: max_weight_grams, max_letters, max_drawings, accepts_drawings, blocked_items)"#])
        // Many problems: the first 20, and a count of the rest.
        let many = "{\"schema_version\": 1, \"defaults\": {" + (0..<30).map { "\"k\($0)\": 1" }.joined(separator: ", ") + "}}"
        let listed = problems(many)
        #expect(listed.count == InspectionRules.maxProblems + 1)
        #expect(listed.last == "rules.json: and 10 more problem(s)")
    }

    @Test("the file is bounded before it is read: over 1 MiB refused by its size; a folder, a missing file", .timeLimit(.minutes(1)))
    func fileBounds() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parcelflow-rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func loadProblem(_ path: String) -> String {
            do {
                _ = try InspectionRules.load(path: path)
                return "loaded"
            } catch {
                return error.description
            }
        }
        let big = folder.appendingPathComponent("big.json")
        let padding = String(repeating: " ", count: InspectionRules.maxFileBytes)
        try Data(("{\"schema_version\": 1}" + padding).utf8).write(to: big)
        #expect(loadProblem(big.path) == "\(big.path): the file is 1,048,597 bytes, over the limit of 1,048,576 bytes for a rules file")
        // Exactly at the limit, it is read.
        try Data(("{\"schema_version\": 1}" + padding.dropFirst(21)).utf8).write(to: big)
        #expect(loadProblem(big.path) == "loaded")
        #expect(loadProblem(folder.path) == "\(folder.path): it is a folder, not a file")
        #expect(loadProblem(folder.appendingPathComponent("missing.json").path)
            == "\(folder.appendingPathComponent("missing.json").path): cannot open it: No such file or directory")
    }
}
