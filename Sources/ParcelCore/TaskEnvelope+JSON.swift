import Foundation

/// Why a message could not be taken as a task: the reason a dead letter carries.
public struct TaskRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}

extension TaskEnvelope {
    /// The task as JSON (keys in a fixed order, so equal tasks give equal bytes).
    public func encoded() -> Data {
        var fields: [(String, String)] = [
            ("schema_version", "\(Self.schemaVersion)"),
            ("task_id", json(taskID)),
            ("parcel_id", json(parcel.id)),
            ("stage", json(stage.rawValue)),
            ("attempt", "\(attempt)"),
            ("created_at", json(Timestamp.format(createdAt))),
            ("submitted_at", json(Timestamp.format(submittedAt))),
        ]
        fields.append(("parcel", Self.encode(parcel)))
        var payloadFields: [(String, String)] = []
        if let t = payload.collectedAt { payloadFields.append(("collected_at", json(Timestamp.format(t)))) }
        if let p = payload.collectionPoint { payloadFields.append(("collection_point", json(p))) }
        if let t = payload.packedAt { payloadFields.append(("packed_at", json(Timestamp.format(t)))) }
        if let b = payload.box { payloadFields.append(("box", json(b.rawValue))) }
        if let t = payload.inspectedAt { payloadFields.append(("inspected_at", json(Timestamp.format(t)))) }
        fields.append(("payload", object(payloadFields)))
        return Data(object(fields).utf8)
    }

    /// A parcel as JSON, the form tasks, JSON Lines files and the store use.
    public static func encode(_ parcel: Parcel) -> String {
        object([
            ("id", json(parcel.id)),
            ("sender", object([("name", json(parcel.sender.name)), ("relation", json(parcel.sender.relation.rawValue))])),
            ("recipient", object([("name", json(parcel.recipient.name)), ("facility", json(parcel.recipient.facility))])),
            ("contents", object([("letters", "\(parcel.contents.letters)"), ("drawings", "\(parcel.contents.drawings)")])),
            ("weight_grams", "\(parcel.weightGrams)"),
            ("origin", json(parcel.origin)),
        ])
    }

    /// Decodes and checks a task. Every way a message can be wrong — not JSON, another schema version,
    /// a missing or mistyped field, an invalid parcel, a payload that lacks what its stage needs —
    /// gives a ``TaskRejection`` whose reason names the field.
    public static func decode(_ data: Data) -> Result<TaskEnvelope, TaskRejection> {
        guard let value = JSONValue.parse(data) else { return .failure(TaskRejection("the body is not valid JSON")) }
        var reader = JSONFieldReader()
        guard let root = reader.object(value, "", allowed: [
            "schema_version", "task_id", "parcel_id", "stage", "attempt", "created_at", "submitted_at", "parcel", "payload",
        ]) else { return .failure(TaskRejection(reader.issues.map(\.description).joined(separator: "; "))) }
        if let version = reader.integer(root, "schema_version"), version != schemaVersion {
            reader.fail("schema_version", "\(version) is not supported (this worker reads version \(schemaVersion))")
        }
        let taskID = reader.string(root, "task_id")
        let parcelID = reader.string(root, "parcel_id")
        var stage: Stage?
        if let text = reader.string(root, "stage") {
            stage = Stage(rawValue: text)
            if stage == nil {
                reader.fail("stage", "'\(text)' is not a stage (collection, packaging, inspection, delivery)")
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
            payload.collectedAt = object["collected_at"] == nil ? nil : timestamp(object, "payload.collected_at", &reader)
            if object["collection_point"] != nil, let point = reader.string(object, "payload.collection_point") {
                var issues: [ParcelValidationIssue] = []
                Parcel.checkText(point, "payload.collection_point", &issues)
                for issue in issues { reader.fail(issue.field, issue.message) }
                payload.collectionPoint = point
            }
            payload.packedAt = object["packed_at"] == nil ? nil : timestamp(object, "payload.packed_at", &reader)
            payload.inspectedAt = object["inspected_at"] == nil ? nil : timestamp(object, "payload.inspected_at", &reader)
            if object["box"] != nil, let text = reader.string(object, "payload.box") {
                payload.box = StagePayload.Box(rawValue: text)
                if payload.box == nil {
                    reader.fail("payload.box", "'\(text)' is not a box (envelope, small_box, large_box)")
                }
            }
            if let stage {
                for key in StagePayload.requiredKeys(for: stage) where object[key] == nil {
                    reader.fail("payload.\(key)", "is missing (every \(stage) task carries it)")
                }
            }
        }
        if let parcel, let parcelID, parcelID != parcel.id {
            reader.fail("parcel_id", "'\(parcelID)' differs from parcel.id '\(parcel.id)'")
        }
        if let parcel, let stage, let taskID, taskID != Self.taskID(parcelID: parcel.id, stage: stage) {
            reader.fail("task_id", "'\(taskID)' should be '\(Self.taskID(parcelID: parcel.id, stage: stage))'")
        }
        guard reader.issues.isEmpty, let parcel, let stage, let attempt, let createdAt, let submittedAt else {
            return .failure(TaskRejection(reader.issues.map(\.description).joined(separator: "; ")))
        }
        return .success(TaskEnvelope(parcel: parcel, stage: stage, attempt: attempt, createdAt: createdAt,
                                     submittedAt: submittedAt, payload: payload))
    }

    private static func timestamp(_ object: [String: JSONValue], _ path: String, _ reader: inout JSONFieldReader) -> Date? {
        guard let text = reader.string(object, path) else { return nil }
        guard let date = Timestamp.parse(text) else {
            reader.fail(path, "'\(text)' is not an RFC 3339 time such as 2026-12-01T09:30:00.000Z")
            return nil
        }
        return date
    }
}

private func object(_ fields: [(String, String)]) -> String {
    "{" + fields.map { "\(json($0.0)):\($0.1)" }.joined(separator: ",") + "}"
}

/// A JSON string literal.
private func json(_ text: String) -> String {
    var out = "\""
    out.reserveCapacity(text.utf8.count + 2)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
