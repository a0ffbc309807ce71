import Foundation
import Logging
@testable import ParcelCore
import Synchronization
import Testing

@Suite("Log lines as JSON (--log-format json): one object a line, every string escaped")
struct JSONLogHandlerTests {
    /// The lines a handler wrote.
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func logger(level: Logger.Level = .trace) -> Logger {
            var logger = Logger(label: "parcelflow.test") { label in JSONLogHandler(label: label) { line in self.lines.withLock { $0.append(line) } } }
            logger.logLevel = level
            return logger
        }
    }

    /// Each line: ends with its one line feed, and is a JSON object.
    static func objects(_ lines: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
        try lines.map { line in
            #expect(line.hasSuffix("\n") && line.dropLast().allSatisfy { $0 != "\n" && $0 != "\r" }, "one line: \(line)",
                    sourceLocation: sourceLocation)
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any], "\(line)", sourceLocation: sourceLocation)
        }
    }

    /// Every control character, quotes and backslashes, the separators a JavaScript reader takes for
    /// line breaks, bidirectional controls, characters beyond the BMP, a combining accent.
    static let hostile = "nul\u{0} bell\u{7} bs\u{8} tab\t lf\n cr\r ff\u{C} esc\u{1B}[2J us\u{1F} del\u{7F} c1\u{85}\u{9F} "
        + #"quote" 'single' back\slash \" \\ \u{41} \n"# + " ls\u{2028} ps\u{2029} rlo\u{202E} lri\u{2066} "
        + "parcel📦 e\u{301} 𝄞 </script> {\"json\":1} ,}"

    @Test("time, level, label, source and message, then each metadata key as a member of its own")
    func members() throws {
        let lines = Lines()
        var logger = lines.logger()
        logger[metadataKey: "amqp.endpoint"] = "127.0.0.1:5672"
        logger.info("task done", metadata: ["parcel.id": "P-1", "task.stage": "packaging", "task.attempt": .stringConvertible(2)])
        logger.warning("no metadata")
        let objects = try Self.objects(lines.all)
        try #require(objects.count == 2)
        let first = objects[0]
        let time = try #require(first["time"] as? String)
        #expect(time.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "RFC 3339, UTC, milliseconds: \(time)")
        #expect(first["level"] as? String == "info")
        #expect(first["label"] as? String == "parcelflow.test")
        #expect(first["source"] as? String == "ParcelCoreTests")
        #expect(first["message"] as? String == "task done")
        #expect(first["parcel.id"] as? String == "P-1")
        #expect(first["task.stage"] as? String == "packaging")
        #expect(first["task.attempt"] as? String == "2")
        #expect(first["amqp.endpoint"] as? String == "127.0.0.1:5672", "the logger's own metadata too")
        #expect(first.count == 9, "\(first.keys.sorted())")
        #expect(objects[1]["level"] as? String == "warning" && objects[1]["amqp.endpoint"] != nil)
        #expect(lines.all[0].hasPrefix(#"{"time":""#), "time first: \(lines.all[0])")
    }

    @Test("hostile text in the message, the label, metadata keys and values reads back exactly, and no raw control or steering character is written")
    func hostileText() throws {
        let lines = Lines()
        let logger = Logger(label: Self.hostile) { label in JSONLogHandler(label: label) { line in lines.lines.withLock { $0.append(line) } } }
        logger.error("\(Self.hostile)", metadata: [
            Self.hostile: "\(Self.hostile)",
            "list": .array(["a\u{2028}", .stringConvertible(Self.hostile)]),
            "nested": .dictionary([Self.hostile: .dictionary(["x": "\"\\"])]),
        ])
        let object = try #require(try Self.objects(lines.all).first)
        #expect(object["message"] as? String == Self.hostile)
        #expect(object["label"] as? String == Self.hostile)
        #expect(object[Self.hostile] as? String == Self.hostile)
        #expect(object["list"] as? [String] == ["a\u{2028}", Self.hostile])
        let nested = try #require(object["nested"] as? [String: Any])
        #expect((nested[Self.hostile] as? [String: String]) == ["x": "\"\\"])
        let line = try #require(lines.all.first)
        let raw = line.unicodeScalars.dropLast().filter(TerminalText.isSteering)
        #expect(raw.isEmpty, "written raw: \(raw.map { String($0.value, radix: 16) })")
        #expect(line.contains("📦") && line.contains("𝄞"), "characters beyond the BMP are written as they are")
        #expect(line.contains(#"\u2028"#) && line.contains(#"\u202e"#) && line.contains(#"\u0000"#))
    }

    @Test("a metadata value is cut as Echo cuts a reason; the message is not")
    func longValuesAreCut() throws {
        let lines = Lines()
        let long = String(repeating: "ab\"\\é📦", count: 10_000) // 100 KB in UTF-8
        lines.logger().info("\(long)", metadata: ["long": "\(long)", "short": "kept", "list": .array([.string(long)])])
        let object = try #require(try Self.objects(lines.all).first)
        let cut = try #require(object["long"] as? String)
        #expect(cut == Echo.reason(long))
        #expect(cut.utf8.count <= Echo.maxReasonBytes && cut.hasSuffix("…(cut)") && long.hasPrefix(cut.dropLast("…(cut)".count)))
        #expect((object["list"] as? [String]) == [Echo.reason(long)], "in lists too")
        #expect(object["short"] as? String == "kept")
        #expect(object["message"] as? String == long)
    }

    @Test("a metadata key named like a fixed member moves aside; it never replaces one")
    func collisions() throws {
        let lines = Lines()
        lines.logger().notice("the message", metadata: ["message": "m", "time": "t", "metadata.time": "mt", "level": "l", "label": "x"])
        let object = try #require(try Self.objects(lines.all).first)
        #expect(object["message"] as? String == "the message")
        #expect(object["level"] as? String == "notice")
        #expect(object["label"] as? String == "parcelflow.test")
        #expect(object["metadata.message"] as? String == "m")
        #expect(object["metadata.level"] as? String == "l")
        #expect(object["metadata.label"] as? String == "x")
        #expect(object["metadata.time"] as? String == "mt")
        #expect(object["metadata.metadata.time"] as? String == "t")
        #expect((object["time"] as? String)?.hasSuffix("Z") == true)
    }

    @Test("the logger's level still decides; an error given to the logger becomes error.message and error.type")
    func levelAndError() throws {
        struct Refused: Error, CustomStringConvertible { let description = "refused \"x\"" }
        let lines = Lines()
        let logger = lines.logger(level: .warning)
        logger.info("not written")
        logger.warning("written", error: Refused())
        let objects = try Self.objects(lines.all)
        try #require(objects.count == 1)
        #expect(objects[0]["error.message"] as? String == "refused \"x\"")
        #expect((objects[0]["error.type"] as? String)?.hasSuffix("Refused") == true)
    }

    @Test("RFC 3339 in UTC with milliseconds")
    func timestamps() {
        #expect(JSONLogHandler.rfc3339(seconds: 0, milliseconds: 5) == "1970-01-01T00:00:00.005Z")
        #expect(JSONLogHandler.rfc3339(seconds: 951_868_799, milliseconds: 999) == "2000-02-29T23:59:59.999Z")
        #expect(JSONLogHandler.rfc3339(seconds: 1_796_000_000, milliseconds: 120) == "2026-11-30T00:53:20.120Z")
    }
}
