import Foundation

/// One field of a task's payload as the wire format knows it: its JSON key, the stage that records
/// it, the kind of value it holds, and what the encoder, the two decoders and the worker do with it.
///
/// ``StagePayload/fields`` lists them all; nothing else in the wire format names a payload field.
/// An entry is made by ``timestamp(_:_:recordedBy:)``, ``text(_:_:recordedBy:standIn:)`` or
/// ``choice(_:_:recordedBy:standIn:)``, which tie the key to a stored property of ``StagePayload``.
final class PayloadField: Sendable {
    /// What a field holds; on the wire, each kind is a JSON string.
    enum Kind: Sendable, Hashable {
        /// An RFC 3339 time (``Timestamp``); schema `#/$defs/timestamp`.
        case timestamp
        /// Text under the rules of a parcel's text fields (`Parcel.checkText`); schema
        /// `parcel.v1.schema.json#/$defs/text`.
        case text
        /// One of these names (an enum's raw values); schema `#/$defs/<key>`, whose `enum` lists them.
        case choice([String])
    }

    /// The JSON key, as the scanner and the encoder use it.
    let key: StaticString
    /// The JSON key.
    let name: String
    /// `payload.<key>`, as a problem names the field.
    let path: String
    /// The stage that records the field: every task for a later stage carries it.
    let recordedBy: Stage
    let kind: Kind

    private let recordedByIndex: Int
    /// Where the value lives in a ``StagePayload``: the byte offset of its stored property. Through
    /// the key path itself, every access would go through the runtime's generic key-path code, which
    /// made the fast scan and the encoder about 15 % slower (`parcelctl bench decode`).
    private let offset: Int
    /// The stored property's type, for a check in debug builds that the value is read as that type.
    private let valueType: ObjectIdentifier
    // What each part of the wire format does with the field. The encoder's and both decoders' capture
    // nothing, so that calling them costs no reference counting; they reach the value through `offset`.
    private let scanValue: @Sendable (PayloadField, inout JSONScanner, inout StagePayload) -> Bool
    private let writeValue: @Sendable (PayloadField, StagePayload, inout JSONWriter, inout Bool) -> Void
    private let readValue: @Sendable (PayloadField, [String: JSONValue], inout JSONFieldReader, inout StagePayload) -> Void
    private let isPresent: @Sendable (PayloadField, StagePayload) -> Bool
    private let fillValue: @Sendable (PayloadField, inout StagePayload, TaskEnvelope, Date) -> Void

    /// Made only by the factories below, each of which reads and writes the value as the type its
    /// `property` has.
    private init<Value>(_ key: StaticString, _ property: WritableKeyPath<StagePayload, Value?>, recordedBy: Stage,
                        kind: Kind,
                        scan: @escaping @Sendable (PayloadField, inout JSONScanner, inout StagePayload) -> Bool,
                        write: @escaping @Sendable (PayloadField, StagePayload, inout JSONWriter, inout Bool) -> Void,
                        read: @escaping @Sendable (PayloadField, [String: JSONValue], inout JSONFieldReader,
                                                   inout StagePayload) -> Void,
                        standIn: @escaping @Sendable (_ task: TaskEnvelope, _ time: Date) -> Value) {
        guard let offset = MemoryLayout<StagePayload>.offset(of: property) else {
            preconditionFailure("\(property) is not a stored property of StagePayload")
        }
        self.key = key
        name = key.description
        path = "payload.\(name)"
        self.recordedBy = recordedBy
        self.kind = kind
        recordedByIndex = recordedBy.index
        self.offset = offset
        valueType = ObjectIdentifier(Value?.self)
        scanValue = scan
        writeValue = write
        readValue = read
        isPresent = { field, payload in field.value(in: payload, as: Value.self) != nil }
        fillValue = { field, payload, task, time in
            if field.value(in: payload, as: Value.self) == nil { field.set(standIn(task, time), in: &payload) }
        }
    }

    /// A time; its stand-in is the time the field is recorded.
    static func timestamp(_ key: StaticString, _ property: WritableKeyPath<StagePayload, Date?>,
                          recordedBy: Stage) -> PayloadField {
        PayloadField(key, property, recordedBy: recordedBy, kind: .timestamp,
                     scan: { field, scanner, payload in
                         guard let time = scanner.timestamp() else { return false }
                         field.set(time, in: &payload)
                         return true
                     },
                     write: { field, payload, out, first in
                         guard let time = field.value(in: payload, as: Date.self) else { return }
                         out.member(field.key, first: &first)
                         out.timestamp(time)
                     },
                     read: { field, object, reader, payload in
                         if let time = TaskEnvelope.timestamp(object, field.path, &reader) { field.set(time, in: &payload) }
                     },
                     standIn: { _, time in time })
    }

    /// Text under the rules of a parcel's text fields.
    static func text(_ key: StaticString, _ property: WritableKeyPath<StagePayload, String?>, recordedBy: Stage,
                     standIn: @escaping @Sendable (_ task: TaskEnvelope, _ time: Date) -> String) -> PayloadField {
        PayloadField(key, property, recordedBy: recordedBy, kind: .text,
                     scan: { field, scanner, payload in
                         guard let text = scanner.string() else { return false }
                         var issues: [ParcelValidationIssue] = []
                         Parcel.checkText(text, field.path, &issues)
                         field.set(text, in: &payload)
                         return issues.isEmpty
                     },
                     write: { field, payload, out, first in
                         guard let text = field.value(in: payload, as: String.self) else { return }
                         out.member(field.key, first: &first)
                         out.string(text)
                     },
                     read: { field, object, reader, payload in
                         guard let text = reader.string(object, field.path) else { return }
                         var issues: [ParcelValidationIssue] = []
                         Parcel.checkText(text, field.path, &issues)
                         for issue in issues { reader.fail(issue.field, issue.message) }
                         field.set(text, in: &payload)
                     },
                     standIn: standIn)
    }

    /// One of an enum's raw values; a problem calls a wrong one "not a <key>".
    static func choice<Choice: RawRepresentable<String> & CaseIterable & Sendable>(
        _ key: StaticString, _ property: WritableKeyPath<StagePayload, Choice?>, recordedBy: Stage, standIn: Choice
    ) -> PayloadField {
        PayloadField(key, property, recordedBy: recordedBy, kind: .choice(Choice.allCases.map(\.rawValue)),
                            scan: { field, scanner, payload in
                                guard let choice = scanner.string().flatMap(Choice.init(rawValue:)) else { return false }
                                field.set(choice, in: &payload)
                                return true
                            },
                            write: { field, payload, out, first in
                                guard let choice = field.value(in: payload, as: Choice.self) else { return }
                                out.member(field.key, first: &first)
                                out.string(choice.rawValue)
                            },
                            read: { field, object, reader, payload in
                                guard let text = reader.string(object, field.path) else { return }
                                guard let choice = Choice(rawValue: text) else {
                                    let noun = String(field.name.map { $0 == "_" ? " " : $0 })
                                    let article = noun.first.map { "aeiou".contains($0) } == true ? "an" : "a"
                                    let names = Choice.allCases.map(\.rawValue).joined(separator: ", ")
                                    return reader.fail(field.path, "\(Echo.quoted(text)) is not \(article) \(noun) (\(names))")
                                }
                                field.set(choice, in: &payload)
                            },
                            standIn: { _, _ in standIn })
    }

    /// The value, read as the type the factory gave (that of the stored property at `offset`).
    private func value<Value>(in payload: StagePayload, as type: Value.Type) -> Value? {
        assert(ObjectIdentifier(Value?.self) == valueType, "\(name) is not a \(Value.self)")
        return withUnsafePointer(to: payload) {
            UnsafeRawPointer($0).advanced(by: offset).assumingMemoryBound(to: Value?.self).pointee
        }
    }

    /// Sets the value, of the type the factory gave.
    private func set<Value>(_ value: Value, in payload: inout StagePayload) {
        assert(ObjectIdentifier(Value?.self) == valueType, "\(name) is not a \(Value.self)")
        withUnsafeMutablePointer(to: &payload) {
            UnsafeMutableRawPointer($0).advanced(by: offset).assumingMemoryBound(to: Value?.self).pointee = value
        }
    }

    /// Whether every task for the stage at `stageIndex` (``Stage/index``) carries this field: it is
    /// recorded by an earlier stage.
    func isRequired(atStageIndex stageIndex: Int) -> Bool { recordedByIndex < stageIndex }

    /// Whether `payload` has a value for this field.
    func isPresent(in payload: StagePayload) -> Bool { isPresent(self, payload) }

    /// The fast path: reads the value after this field's key into `payload`; false if the value is
    /// anything out of the ordinary. (The caller sees to it that a field comes only once.)
    func scan(_ scanner: inout JSONScanner, into payload: inout StagePayload) -> Bool { scanValue(self, &scanner, &payload) }

    /// The thorough path: reads the value from the payload's JSON object (which has this key) into
    /// `payload`, reporting every problem to `reader`.
    func read(_ object: [String: JSONValue], into payload: inout StagePayload, _ reader: inout JSONFieldReader) {
        readValue(self, object, &reader, &payload)
    }

    /// Appends `"<key>":<value>` (after a comma unless `first`) if `payload` has a value.
    func write(_ payload: StagePayload, to out: inout JSONWriter, first: inout Bool) {
        writeValue(self, payload, &out, &first)
    }

    /// Sets the value to its stand-in, rebuilt from `task`, if `payload` has none.
    func fill(_ payload: inout StagePayload, from task: TaskEnvelope, at time: Date) { fillValue(self, &payload, task, time) }
}
