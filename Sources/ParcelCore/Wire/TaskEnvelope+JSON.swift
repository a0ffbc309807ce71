import Foundation

/// Why a message could not be taken as a task: the reason a dead letter carries.
public struct TaskRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String

    /// `reason` is cut to ``Echo/maxReasonBytes``.
    public init(_ reason: String) {
        self.reason = Echo.reason(reason)
    }

    public var description: String { reason }
}

extension TaskEnvelope {
    /// The task as JSON (keys in a fixed order, so equal tasks give equal bytes).
    public func encoded() -> Data {
        var out = JSONWriter()
        out.literal("{\"schema_version\":")
        out.integer(Self.schemaVersion)
        // The task id (`<parcel id>:<stage>`, ``taskID``) written in parts, without building it.
        out.literal(",\"task_id\":\"")
        out.escaped(parcel.id)
        out.literal(":")
        out.unescaped(stage.rawValue)
        out.literal("\",\"parcel_id\":")
        out.string(parcel.id)
        out.literal(",\"stage\":\"")
        out.unescaped(stage.rawValue)
        out.literal("\",\"attempt\":")
        out.integer(attempt)
        out.literal(",\"created_at\":")
        out.timestamp(createdAt)
        out.literal(",\"submitted_at\":")
        out.timestamp(submittedAt)
        out.literal(",\"parcel\":")
        Self.write(parcel, to: &out)
        out.literal(",\"payload\":{")
        var first = true
        for field in StagePayload.fields { field.write(payload, to: &out, first: &first) }
        out.literal("}}")
        return Data(out.bytes)
    }

    /// A parcel as JSON, the form tasks, JSON Lines files and the store use.
    public static func encode(_ parcel: Parcel) -> String {
        var out = JSONWriter()
        write(parcel, to: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    static func write(_ parcel: Parcel, to out: inout JSONWriter) {
        out.literal("{\"id\":")
        out.string(parcel.id)
        out.literal(",\"sender\":{\"name\":")
        out.string(parcel.sender.name)
        out.literal(",\"relation\":\"")
        out.unescaped(parcel.sender.relation.rawValue)
        out.literal("\"},\"recipient\":{\"name\":")
        out.string(parcel.recipient.name)
        out.literal(",\"facility\":")
        out.string(parcel.recipient.facility)
        out.literal("},\"contents\":{\"letters\":")
        out.integer(parcel.contents.letters)
        out.literal(",\"drawings\":")
        out.integer(parcel.contents.drawings)
        // Omitted when there are none, so a parcel without items reads as it did before items existed:
        // byte for byte the same task, and the same stored parcel to compare with.
        if !parcel.contents.items.isEmpty {
            out.literal(",\"items\":[")
            for (index, item) in parcel.contents.items.enumerated() {
                if index > 0 { out.literal(",") }
                out.string(item)
            }
            out.literal("]")
        }
        out.literal("},\"weight_grams\":")
        out.integer(parcel.weightGrams)
        out.literal(",\"origin\":")
        out.string(parcel.origin)
        out.literal("}")
    }

    /// The fields of a task's JSON object, made once rather than per message.
    private static let fields: Set<String> = [
        "schema_version", "task_id", "parcel_id", "stage", "attempt", "created_at", "submitted_at", "parcel", "payload",
    ]

    /// Decodes and checks a task. Every way a message can be wrong — not JSON, another schema version,
    /// a missing or mistyped field, an invalid parcel, a payload that lacks what its stage needs —
    /// gives a ``TaskRejection`` whose reason names the field.
    public static func decode(_ data: Data) -> Result<TaskEnvelope, TaskRejection> {
        if let task = scanValid(data) { return .success(task) }
        return decodeThoroughly(data)
    }

    /// ``decode(_:)`` through a JSON tree, field by field, collecting every problem.
    package static func decodeThoroughly(_ data: Data) -> Result<TaskEnvelope, TaskRejection> {
        guard let value = JSONValue.parse(data) else { return .failure(TaskRejection("the body is not valid JSON")) }
        var reader = JSONFieldReader()
        guard let root = reader.object(value, "", allowed: fields) else { return .failure(TaskRejection(reader.issues.map(\.description).joined(separator: "; "))) }
        if let version = reader.integer(root, "schema_version"), version != schemaVersion {
            reader.fail("schema_version", "\(version) is not supported (this worker reads version \(schemaVersion))")
        }
        let taskID = reader.string(root, "task_id")
        let parcelID = reader.string(root, "parcel_id")
        var stage: Stage?
        if let text = reader.string(root, "stage") {
            stage = Stage(rawValue: text)
            if stage == nil {
                reader.fail("stage", "\(Echo.quoted(text)) is not a stage (collection, packaging, inspection, delivery)")
            }
        }
        let attempt = reader.integer(root, "attempt")
        if let attempt, attempt < 1 { reader.fail("attempt", "must be 1 or more (got \(attempt))") }
        let createdAt = timestamp(root, "created_at", &reader)
        let submittedAt = timestamp(root, "submitted_at", &reader)
        var parcel: Parcel?
        if let parcelValue = root["parcel"] {
            switch ParcelParsing.parcel(fromJSON: parcelValue) {
            case .success(let p): parcel = p
            case .failure(let invalid):
                for issue in invalid.issues { reader.fail("parcel.\(issue.field)", issue.message) }
            }
        } else {
            reader.fail("parcel", "is missing")
        }
        var payload = StagePayload()
        if let object = reader.object(root["payload"], "payload", allowed: StagePayload.keys) {
            let stageIndex = stage?.index ?? 0
            for field in StagePayload.fields {
                if object[field.name] != nil {
                    field.read(object, into: &payload, &reader)
                } else if let stage, field.isRequired(atStageIndex: stageIndex) {
                    reader.fail(field.path, "is missing (every \(stage) task carries it)")
                }
            }
        }
        if let parcel, let parcelID, parcelID != parcel.id {
            reader.fail("parcel_id", "\(Echo.quoted(parcelID)) differs from parcel.id \(Echo.quoted(parcel.id))")
        }
        if let parcel, let stage, let taskID, taskID != Self.taskID(parcelID: parcel.id, stage: stage) {
            reader.fail("task_id", "\(Echo.quoted(taskID)) should be \(Echo.quoted(Self.taskID(parcelID: parcel.id, stage: stage)))")
        }
        guard reader.issues.isEmpty, let parcel, let stage, let attempt, let createdAt, let submittedAt else {
            return .failure(TaskRejection(reader.issues.map(\.description).joined(separator: "; ")))
        }
        return .success(TaskEnvelope(parcel: parcel, stage: stage, attempt: attempt, createdAt: createdAt,
                                     submittedAt: submittedAt, payload: payload))
    }

    static func timestamp(_ object: [String: JSONValue], _ path: String, _ reader: inout JSONFieldReader) -> Date? {
        guard let text = reader.string(object, path) else { return nil }
        guard let date = Timestamp.parse(text) else {
            reader.fail(path, "\(Echo.quoted(text)) is not an RFC 3339 time such as 2026-12-01T09:30:00.000Z")
            return nil
        }
        return date
    }
}

/// Builds JSON text in a byte buffer. A worker encodes a task per message, so nothing here builds an
/// intermediate `String`: literals, numbers and strings go into the buffer straight from their bytes
/// (a string is scanned and copied from its contiguous UTF-8, escaped only when it must be), and
/// times are written digit by digit.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init() {
        bytes.reserveCapacity(512)
    }

    mutating func raw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// JSON text known when the program was built: copied as it is.
    mutating func literal(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// An object member's key and colon, after a comma unless it is the `first` member.
    mutating func member(_ key: StaticString, first: inout Bool) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        literal(key)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// A whole number in decimal.
    mutating func integer(_ value: Int) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        digits(value.magnitude)
    }

    private mutating func digits(_ value: UInt) {
        if value >= 10 { digits(value / 10) }
        bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    /// Text that needs no escaping (a stage's or another enumeration's raw value), without quotes.
    mutating func unescaped(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// A JSON string literal.
    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        escaped(text)
        bytes.append(UInt8(ascii: "\""))
    }

    /// The inside of a JSON string literal: `text`, escaped where it must be.
    mutating func escaped(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                bytes.append(contentsOf: utf8)
            } else {
                for byte in utf8 { escape(byte) }
            }
        }
    }

    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
        case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
        case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
        case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
        case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
        case ..<0x20:
            let hex = Array("0123456789abcdef".utf8)
            bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                      hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
        default: bytes.append(byte)
        }
    }

    /// A quoted RFC 3339 time, as ``Timestamp/format(_:)`` writes it.
    mutating func timestamp(_ date: Date) {
        bytes.append(UInt8(ascii: "\""))
        Timestamp.write(date, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }
}
