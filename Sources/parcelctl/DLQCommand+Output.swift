import AMQP
import Foundation
import ParcelCore
import ParcelRabbit

/// How `parcelctl dlq` shows letters: a table, a whole letter as text, and JSON.
enum DLQOutput {
    /// The parcel (and stage) a letter is about, for one-line messages.
    static func name(_ entry: DeadLetterEntry) -> String {
        guard let parcel = entry.parcelID else { return "a letter with no parcel id (\(entry.reason))" }
        return entry.stage.map { "\(parcel) (\($0))" } ?? parcel
    }

    /// One line per letter under a header; long reasons are cut (`show` has them whole).
    static func table(_ entries: [DeadLetterEntry]) -> String {
        let header = ["PARCEL", "STAGE", "ATTEMPTS", "KIND", "WHEN", "REASON"]
        let rows = entries.map { entry in
            [entry.parcelID ?? "-", entry.stage?.rawValue ?? "-", "\(entry.attempts)", entry.kind.rawValue,
             entry.at.map(Timestamp.format) ?? "-", cut(entry.reason, to: 80)]
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
        var lines = ["Letter for parcel \(entry.parcelID ?? "(none)")" + (entry.taskID.map { ", task \($0)" } ?? "")]
        func field(_ name: String, _ value: String) {
            lines.append("  " + name.padding(toLength: 11, withPad: " ", startingAt: 0) + value)
        }
        field("stage", entry.stage?.rawValue ?? "(unknown)")
        field("attempts", "\(entry.attempts)")
        field("kind", entry.kind.rawValue)
        field("reason", entry.reason)
        field("when", entry.at.map(Timestamp.format) ?? "(unknown)")
        field("from", entry.fromBroker ? "the broker itself" : "a ParcelFlow worker")
        switch entry.task {
        case .success: field("replay", "possible: `parcelctl dlq replay \(entry.taskID ?? entry.parcelID ?? "")`")
        case .failure(let rejection): field("replay", "impossible, not a valid task: \(rejection.reason)")
        }
        lines.append("Headers:")
        let headers = entry.properties.headers ?? [:]
        if headers.isEmpty { lines.append("  (none)") }
        for key in headers.keys.sorted() {
            lines.append("  \(key): \(describe(headers[key]!))")
        }
        lines.append("Properties:")
        for (key, value) in properties(entry) { lines.append("  \(key): \(value)") }
        lines.append("Body (\(Terminal.plural(entry.body.count, "byte"))):")
        lines.append(body(entry.body).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
            .joined(separator: "\n"))
        return lines.joined(separator: "\n")
    }

    /// The fields `list --json` gives for each letter.
    static func summary(_ entry: DeadLetterEntry) -> [String: Any] {
        var object: [String: Any] = [
            "parcel_id": optional(entry.parcelID), "task_id": optional(entry.taskID),
            "stage": optional(entry.stage?.rawValue), "attempts": entry.attempts, "kind": entry.kind.rawValue,
            "reason": entry.reason, "at": optional(entry.at.map(Timestamp.format)), "from_broker": entry.fromBroker,
            "replayable": entry.replayable,
        ]
        if case .failure(let rejection) = entry.task { object["invalid_reason"] = rejection.reason }
        return object
    }

    /// `summary` plus the whole message, for `show --json`.
    static func whole(_ entry: DeadLetterEntry) -> [String: Any] {
        var object = summary(entry)
        object["routing_key"] = entry.routingKey
        object["headers"] = (entry.properties.headers ?? [:]).mapValues(jsonValue)
        object["properties"] = Dictionary(uniqueKeysWithValues: properties(entry))
        if case .success = entry.task, let task = try? JSONSerialization.jsonObject(with: entry.body) {
            object["task"] = task
        } else {
            object["body"] = String(data: entry.body, encoding: .utf8) ?? entry.body.base64EncodedString()
        }
        return object
    }

    static func json(_ value: Any) -> String {
        let data = try! JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    private static func optional(_ value: Any?) -> Any { value ?? NSNull() }

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

    /// The body as indented JSON when it is JSON, else as text (or base64 when it is not UTF-8).
    private static func body(_ data: Data) -> String {
        if let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
            let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed]) {
            return String(decoding: pretty, as: UTF8.self)
        }
        return String(data: data, encoding: .utf8) ?? "base64: " + data.base64EncodedString()
    }

    private static func describe(_ value: AMQPFieldValue) -> String {
        switch value {
        case .string, .bytes: value.stringValue.map { "\"\($0)\"" } ?? "\(value)"
        case .timestamp(let seconds): Timestamp.format(Date(timeIntervalSince1970: TimeInterval(seconds)))
        case .array(let items): "[" + items.map(describe).joined(separator: ", ") + "]"
        case .table(let table): "{" + table.keys.sorted().map { "\($0): \(describe(table[$0]!))" }.joined(separator: ", ") + "}"
        default: "\(jsonValue(value))"
        }
    }

    /// An AMQP field as a JSON value.
    private static func jsonValue(_ value: AMQPFieldValue) -> Any {
        if let int = value.intValue { return int }
        switch value {
        case .bool(let b): return b
        case .float(let f): return Double(f)
        case .double(let d): return d
        case .decimal(let scale, let v): return Double(v) / pow(10, Double(scale))
        case .string, .bytes:
            if let text = value.stringValue { return text }
            if case .bytes(let bytes) = value { return Data(bytes).base64EncodedString() }
            return NSNull()
        case .array(let items): return items.map(jsonValue)
        case .table(let table): return table.mapValues(jsonValue)
        case .timestamp(let seconds): return Timestamp.format(Date(timeIntervalSince1970: TimeInterval(seconds)))
        case .uint64(let v): return "\(v)"
        default: return NSNull()
        }
    }
}
