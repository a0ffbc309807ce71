import AMQP
import Foundation
import ParcelCore
import ParcelRabbit

/// How `parcelctl dlq` shows letters: a table, a whole letter as text, and JSON. Everything in a
/// letter came from whoever published it: each value is escaped (``TerminalText``) where it is placed.
enum DLQOutput {
    private static func v(_ text: String) -> String { Terminal.value(text) }

    /// The parcel (and stage) a letter is about, for one-line messages.
    static func name(_ entry: DeadLetterEntry) -> String {
        guard let parcel = entry.parcelID.map(v) else { return "a letter with no parcel id (\(v(entry.reason)))" }
        return entry.stage.map { "\(parcel) (\($0))" } ?? parcel
    }

    /// One line per letter under a header; long reasons are cut (`show` has them whole).
    static func table(_ entries: [DeadLetterEntry]) -> String {
        let header = ["PARCEL", "STAGE", "ATTEMPTS", "KIND", "WHEN", "REASON"]
        let rows = entries.map { entry in
            [entry.parcelID.map(v) ?? "-", entry.stage?.rawValue ?? "-", "\(entry.attempts)", entry.kind.rawValue,
             entry.at.map(Timestamp.format) ?? "-", v(cut(entry.reason, to: 80))]
        }
        let widths = (0..<header.count - 1).map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        return ([header] + rows).map { row in
            zip(row.dropLast(), widths).map { $0.padding(toLength: $1 + 2, withPad: " ", startingAt: 0) }.joined()
                + row[row.count - 1]
        }.joined(separator: "\n")
    }

    /// A letter whole, for a person.
    static func text(_ entry: DeadLetterEntry) -> String {
        var lines = ["Letter for parcel \(entry.parcelID.map(v) ?? "(none)")" + (entry.taskID.map { ", task \(v($0))" } ?? "")]
        func field(_ name: String, _ value: String) {
            lines.append("  " + name.padding(toLength: 11, withPad: " ", startingAt: 0) + value)
        }
        field("stage", entry.stage?.rawValue ?? "(unknown)")
        field("attempts", "\(entry.attempts)")
        field("kind", entry.kind.rawValue)
        field("reason", v(entry.reason))
        field("when", entry.at.map(Timestamp.format) ?? "(unknown)")
        field("from", entry.fromBroker ? "the broker itself" : "a ParcelFlow worker")
        switch entry.task {
        case .success: field("replay", "possible: `parcelctl dlq replay \(v(entry.taskID ?? entry.parcelID ?? ""))`")
        case .failure(let rejection): field("replay", "impossible, not a valid task: \(v(rejection.reason))")
        }
        lines.append("Headers:")
        let headers = entry.properties.headers ?? [:]
        if headers.isEmpty { lines.append("  (none)") }
        for key in headers.keys.sorted() {
            lines.append("  \(v(key)): \(describe(headers[key]!))")
        }
        lines.append("Properties:")
        for (key, value) in properties(entry) { lines.append("  \(key): \(v(value))") }
        lines.append("Body (\(Terminal.plural(entry.body.count, "byte"))):")
        lines.append(body(entry.body).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
            .joined(separator: "\n"))
        return lines.joined(separator: "\n")
    }

    /// The fields `list --json` gives for each letter.
    static func summary(_ entry: DeadLetterEntry) -> [String: JSONValue] {
        var object: [String: JSONValue] = [
            "parcel_id": .text(entry.parcelID), "task_id": .text(entry.taskID),
            "stage": .text(entry.stage?.rawValue), "attempts": .int(entry.attempts), "kind": .string(entry.kind.rawValue),
            "reason": .string(entry.reason), "at": .text(entry.at.map(Timestamp.format)), "from_broker": .bool(entry.fromBroker),
            "replayable": .bool(entry.replayable),
        ]
        if case .failure(let rejection) = entry.task { object["invalid_reason"] = .string(rejection.reason) }
        return object
    }

    /// `summary` plus the whole message, for `show --json`.
    static func whole(_ entry: DeadLetterEntry) -> [String: JSONValue] {
        var object = summary(entry)
        object["routing_key"] = .string(entry.routingKey)
        object["headers"] = .object((entry.properties.headers ?? [:]).mapValues(jsonValue))
        object["properties"] = .object(Dictionary(uniqueKeysWithValues: properties(entry).map { ($0, .string($1)) }))
        if case .success = entry.task, let task = JSONValue.parse(entry.body) {
            object["task"] = task
        } else {
            object["body"] = .string(String(data: entry.body, encoding: .utf8) ?? entry.body.base64EncodedString())
        }
        return object
    }

    private static func cut(_ text: String, to length: Int) -> String {
        let oneLine = text.replacingOccurrences(of: "\n", with: " ")
        return oneLine.count <= length ? oneLine : oneLine.prefix(length - 1) + "…"
    }

    private static func properties(_ entry: DeadLetterEntry) -> [(String, String)] {
        let p = entry.properties
        let all: [(String, String?)] = [
            ("message_id", p.messageID), ("correlation_id", p.correlationID), ("content_type", p.contentType),
            ("delivery_mode", p.deliveryMode.map { "\($0)" }),
            ("timestamp", p.timestamp.map { Timestamp.format(Date(timeIntervalSince1970: TimeInterval($0))) }),
            ("routing_key", entry.routingKey),
        ]
        return all.compactMap { key, value in value.map { (key, $0) } }
    }

    /// The body as indented JSON when it is JSON, else as text, each line escaped (or base64 when
    /// it is not UTF-8).
    private static func body(_ data: Data) -> String {
        if let value = JSONValue.parse(data) { return TerminalText.escapedJSON(value.serialized(pretty: true)) }
        guard let text = String(data: data, encoding: .utf8) else { return "base64: " + data.base64EncodedString() }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { v(String($0)) }.joined(separator: "\n")
    }

    private static func describe(_ value: AMQPFieldValue) -> String {
        switch value {
        case .string, .bytes: value.stringValue.map { "\"\(v($0))\"" } ?? v("\(value)")
        case .timestamp(let seconds): Timestamp.format(Date(timeIntervalSince1970: TimeInterval(seconds)))
        case .array(let items): "[" + items.map(describe).joined(separator: ", ") + "]"
        case .table(let table): "{" + table.keys.sorted().map { "\(v($0)): \(describe(table[$0]!))" }.joined(separator: ", ") + "}"
        default: TerminalText.escapedJSON(jsonValue(value).serialized())
        }
    }

    /// An AMQP field as a JSON value.
    private static func jsonValue(_ value: AMQPFieldValue) -> JSONValue {
        if let int = value.intValue { return .int(int) }
        switch value {
        case .bool(let b): return .bool(b)
        case .float(let f): return .number(Double(f))
        case .double(let d): return .number(d)
        case .decimal(let scale, let v): return .number(Double(v) / pow(10, Double(scale)))
        case .string(let text): return .string(text)
        case .bytes(let bytes): return .string(value.stringValue ?? Data(bytes).base64EncodedString())
        case .array(let items): return .array(items.map(jsonValue))
        case .table(let table): return .object(table.mapValues(jsonValue))
        case .timestamp(let seconds): return .string(Timestamp.format(Date(timeIntervalSince1970: TimeInterval(seconds))))
        case .uint64(let v): return .string("\(v)")
        default: return .null
        }
    }
}
