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
    private let isPresent: @Sendable (StagePayload) -> Bool
    private let scanValue: @Sendable (inout JSONScanner, inout StagePayload) -> Bool
    private let readValue: @Sendable ([String: JSONValue], inout JSONFieldReader, inout StagePayload) -> Void
    private let writeValue: @Sendable (StagePayload, inout JSONWriter, inout Bool) -> Void
    private let fillValue: @Sendable (inout StagePayload, TaskEnvelope, Date) -> Void

    /// - Parameters:
    ///   - scan: the value on the fast path, or nil for anything unusual (``JSONScanner``).
    ///   - read: the value from the thorough reading's JSON object, reporting every problem to the reader.
    ///   - write: appends the value as JSON.
    ///   - standIn: what the value is when it has to be rebuilt from the task (`time`: when it was recorded).
    private init<Value>(_ key: StaticString, _ property: WritableKeyPath<StagePayload, Value?>, recordedBy: Stage,
                        kind: Kind, scan: @escaping @Sendable (inout JSONScanner, _ path: String) -> Value?,
                        read: @escaping @Sendable ([String: JSONValue], _ path: String, inout JSONFieldReader) -> Value?,
                        write: @escaping @Sendable (Value, inout JSONWriter) -> Void,
                        standIn: @escaping @Sendable (_ task: TaskEnvelope, _ time: Date) -> Value) {
        let slot = PayloadSlot(property)
        let name = key.description
        let path = "payload.\(name)"
        self.key = key
        self.name = name
        self.path = path
        self.recordedBy = recordedBy
        self.kind = kind
        recordedByIndex = recordedBy.index
        isPresent = { slot.get($0) != nil }
        scanValue = { scanner, payload in
            guard slot.get(payload) == nil, let value = scan(&scanner, path) else { return false }
            slot.set(&payload, value)
            return true
        }
        readValue = { object, reader, payload in
            if let value = read(object, path, &reader) { slot.set(&payload, value) }
        }
        writeValue = { payload, out, first in
            guard let value = slot.get(payload) else { return }
            out.member(key, first: &first)
            write(value, &out)
        }
        fillValue = { payload, task, time in
            if slot.get(payload) == nil { slot.set(&payload, standIn(task, time)) }
        }
    }

    /// A time; its stand-in is the time the field is recorded.
    static func timestamp(_ key: StaticString, _ property: WritableKeyPath<StagePayload, Date?>,
                          recordedBy: Stage) -> PayloadField {
        PayloadField(key, property, recordedBy: recordedBy, kind: .timestamp,
                     scan: { scanner, _ in scanner.timestamp() },
                     read: { object, path, reader in TaskEnvelope.timestamp(object, path, &reader) },
                     write: { value, out in out.timestamp(value) },
                     standIn: { _, time in time })
    }

    /// Text under the rules of a parcel's text fields.
    static func text(_ key: StaticString, _ property: WritableKeyPath<StagePayload, String?>, recordedBy: Stage,
                     standIn: @escaping @Sendable (_ task: TaskEnvelope, _ time: Date) -> String) -> PayloadField {
        PayloadField(key, property, recordedBy: recordedBy, kind: .text,
                     scan: { scanner, path in
                         guard let text = scanner.string() else { return nil }
                         var issues: [ParcelValidationIssue] = []
                         Parcel.checkText(text, path, &issues)
                         return issues.isEmpty ? text : nil
                     },
                     read: { object, path, reader in
                         guard let text = reader.string(object, path) else { return nil }
                         var issues: [ParcelValidationIssue] = []
                         Parcel.checkText(text, path, &issues)
                         for issue in issues { reader.fail(issue.field, issue.message) }
                         return text
                     },
                     write: { value, out in out.string(value) },
                     standIn: standIn)
    }

    /// One of an enum's raw values; a problem calls a wrong one "not a <key>".
    static func choice<Choice: RawRepresentable<String> & CaseIterable & Sendable>(
        _ key: StaticString, _ property: WritableKeyPath<StagePayload, Choice?>, recordedBy: Stage, standIn: Choice
    ) -> PayloadField {
        let names = Choice.allCases.map(\.rawValue)
        let noun = String(key.description.map { $0 == "_" ? " " : $0 })
        let article = noun.first.map { "aeiou".contains($0) } == true ? "an" : "a"
        let what = "\(article) \(noun) (\(names.joined(separator: ", ")))"
        return PayloadField(key, property, recordedBy: recordedBy, kind: .choice(names),
                            scan: { scanner, _ in scanner.string().flatMap(Choice.init(rawValue:)) },
                            read: { object, path, reader in
                                guard let text = reader.string(object, path) else { return nil }
                                guard let choice = Choice(rawValue: text) else {
                                    reader.fail(path, "\(Echo.quoted(text)) is not \(what)")
                                    return nil
                                }
                                return choice
                            },
                            write: { value, out in out.string(value.rawValue) },
                            standIn: { _, _ in standIn })
    }

    /// Whether every task for the stage at `stageIndex` (``Stage/index``) carries this field: it is
    /// recorded by an earlier stage.
    func isRequired(atStageIndex stageIndex: Int) -> Bool { recordedByIndex < stageIndex }

    /// Whether `payload` has a value for this field.
    func isPresent(in payload: StagePayload) -> Bool { isPresent(payload) }

    /// The fast path: reads the value after this field's key into `payload`; false if the field was
    /// there already or its value is anything out of the ordinary.
    func scan(_ scanner: inout JSONScanner, into payload: inout StagePayload) -> Bool { scanValue(&scanner, &payload) }

    /// The thorough path: reads the value from the payload's JSON object (which has this key) into
    /// `payload`, reporting every problem to `reader`.
    func read(_ object: [String: JSONValue], into payload: inout StagePayload, _ reader: inout JSONFieldReader) {
        readValue(object, &reader, &payload)
    }

    /// Appends `"<key>":<value>` (after a comma unless `first`) if `payload` has a value.
    func write(_ payload: StagePayload, to out: inout JSONWriter, first: inout Bool) { writeValue(payload, &out, &first) }

    /// Sets the value to its stand-in, rebuilt from `task`, if `payload` has none.
    func fill(_ payload: inout StagePayload, from task: TaskEnvelope, at time: Date) { fillValue(&payload, task, time) }
}

/// Where a field's value lives in a ``StagePayload``: the offset of its stored property. Reading and
/// writing through it costs what a plain property access does; through the key path itself, every
/// access goes through the runtime's generic key-path code, which made the fast scan and the encoder
/// about 15 % slower (`parcelctl bench decode`).
private struct PayloadSlot<Value>: Sendable {
    private let offset: Int

    init(_ property: WritableKeyPath<StagePayload, Value?>) {
        guard let offset = MemoryLayout<StagePayload>.offset(of: property) else {
            preconditionFailure("\(property) is not a stored property of StagePayload")
        }
        self.offset = offset
    }

    func get(_ payload: StagePayload) -> Value? {
        withUnsafePointer(to: payload) {
            UnsafeRawPointer($0).advanced(by: offset).assumingMemoryBound(to: Value?.self).pointee
        }
    }

    func set(_ payload: inout StagePayload, _ value: Value?) {
        withUnsafeMutablePointer(to: &payload) {
            UnsafeMutableRawPointer($0).advanced(by: offset).assumingMemoryBound(to: Value?.self).pointee = value
        }
    }
}
