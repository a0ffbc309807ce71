import Foundation

extension TaskEnvelope {
    /// The common case, fast: a valid task read straight from its bytes into the envelope, with no
    /// JSON tree and no dictionaries in between (a worker reads one per message).
    ///
    /// Returns nil for anything out of the ordinary — an unknown, repeated, missing or mistyped field,
    /// an escape in a string, a number that is not a plain integer, a value any rule rejects — and
    /// ``decode(_:)`` then reads the message the thorough way, which finds and names every problem.
    /// So this never decides that a message is wrong, and a task it accepts is one the thorough
    /// reading accepts too, with equal fields (a test holds both to that on valid and damaged tasks).
    package static func scanValid(_ data: Data) -> TaskEnvelope? {
        data.withUnsafeBytes { bytes in
            var scanner = JSONScanner(bytes)
            var fields = TaskFields()
            guard scanner.object({ fields.read($1, from: &$0) }), scanner.atEnd else { return nil }
            return fields.task()
        }
    }
}

/// What ``TaskEnvelope/scanValid(_:)`` has read so far; a field read twice fails the scan.
private struct TaskFields {
    var version: Int?
    var taskID: String?
    var parcelID: String?
    var stage: Stage?
    var attempt: Int?
    var createdAt: Date?
    var submittedAt: Date?
    var parcel: ParcelFields?
    var payload: StagePayload?
    /// Which of ``StagePayload/fields`` the payload has, bit `i` for `fields[i]`.
    var payloadFields: UInt64 = 0

    mutating func read(_ key: UnsafeRawBufferPointer, from scanner: inout JSONScanner) -> Bool {
        switch key {
        case "schema_version": return once(&version, scanner.integer())
        case "task_id": return once(&taskID, scanner.string())
        case "parcel_id": return once(&parcelID, scanner.string())
        case "stage": return once(&stage, scanner.string().flatMap(Stage.init(rawValue:)))
        case "attempt": return once(&attempt, scanner.integer())
        case "created_at": return once(&createdAt, scanner.timestamp())
        case "submitted_at": return once(&submittedAt, scanner.timestamp())
        case "parcel":
            var fields = ParcelFields()
            guard parcel == nil, scanner.object({ fields.read($1, from: &$0) }) else { return false }
            parcel = fields
            return true
        case "payload":
            var read = StagePayload()
            var seen: UInt64 = 0
            guard payload == nil, scanner.object({ Self.readPayload($1, into: &read, seen: &seen, from: &$0) })
            else { return false }
            (payload, payloadFields) = (read, seen)
            return true
        default: return false
        }
    }

    /// One of the payload's fields, read as its entry in ``StagePayload/fields`` says; each may come once.
    static func readPayload(_ key: UnsafeRawBufferPointer, into payload: inout StagePayload, seen: inout UInt64,
                            from scanner: inout JSONScanner) -> Bool {
        let fields = StagePayload.fields
        for index in fields.indices where fields[index].key ~= key {
            let bit: UInt64 = 1 << index
            guard seen & bit == 0 else { return false }
            seen |= bit
            return fields[index].scan(&scanner, into: &payload)
        }
        return false
    }

    /// The task, if every field is there and every rule holds.
    func task() -> TaskEnvelope? {
        guard version == TaskEnvelope.schemaVersion, let taskID, let parcelID, let stage, let attempt, attempt >= 1,
            let createdAt, let submittedAt, let parcel = parcel?.parcel(), let payload,
            parcelID == parcel.id, taskID == TaskEnvelope.taskID(parcelID: parcel.id, stage: stage)
        else { return nil }
        guard StagePayload.requiredFieldBits(at: stage) & ~payloadFields == 0 else { return nil }
        return TaskEnvelope(parcel: parcel, stage: stage, attempt: attempt, createdAt: createdAt,
                            submittedAt: submittedAt, payload: payload)
    }
}

/// A parcel's fields as ``TaskEnvelope/scanValid(_:)`` reads them.
private struct ParcelFields {
    var id: String?
    var senderName: String?
    var relation: Relation?
    var recipientName: String?
    var facility: String?
    var letters: Int?
    var drawings: Int?
    /// Absent from the task when the parcel declares none.
    var items: [String]?
    var weight: Int?
    var origin: String?

    mutating func read(_ key: UnsafeRawBufferPointer, from scanner: inout JSONScanner) -> Bool {
        switch key {
        case "id": return once(&id, scanner.string())
        case "weight_grams": return once(&weight, scanner.integer())
        case "origin": return once(&origin, scanner.string())
        case "sender":
            guard senderName == nil, let (name, relationText) = Self.pair("name", "relation", from: &scanner, value: { $0.string() }),
                let relation = Relation(rawValue: relationText) else { return false }
            (senderName, self.relation) = (name, relation)
            return true
        case "recipient":
            guard recipientName == nil, let pair = Self.pair("name", "facility", from: &scanner, value: { $0.string() })
            else { return false }
            (recipientName, facility) = pair
            return true
        case "contents":
            guard letters == nil else { return false }
            var letters: Int?, drawings: Int?, items: [String]?
            let read = scanner.object { scanner, key in
                switch key {
                case "letters": return once(&letters, scanner.integer())
                case "drawings": return once(&drawings, scanner.integer())
                case "items": return once(&items, scanner.strings(atMost: Parcel.maxDeclaredItems))
                default: return false
                }
            }
            guard read, let letters, let drawings else { return false }
            (self.letters, self.drawings, self.items) = (letters, drawings, items)
            return true
        default: return false
        }
    }

    /// An object of exactly two fields, `first` and `second`, in either order, both read by `value`.
    private static func pair<Value>(_ first: StaticString, _ second: StaticString, from scanner: inout JSONScanner,
                                    value: (inout JSONScanner) -> Value?) -> (Value, Value)? {
        var a: Value?
        var b: Value?
        let read = scanner.object { scanner, key in
            switch key {
            case first: return once(&a, value(&scanner))
            case second: return once(&b, value(&scanner))
            default: return false
            }
        }
        guard read, let a, let b else { return nil }
        return (a, b)
    }

    func parcel() -> Parcel? {
        guard let id, let senderName, let relation, let recipientName, let facility, let letters, let drawings, let weight,
            let origin else { return nil }
        let parcel = Parcel(id: id, sender: .init(name: senderName, relation: relation),
                            recipient: .init(name: recipientName, facility: facility),
                            contents: .init(letters: letters, drawings: drawings, items: items ?? []), weightGrams: weight,
                            origin: origin)
        return parcel.validationIssues.isEmpty ? parcel : nil
    }
}

/// Sets `field` to `value` if the field was not read before and the value could be read.
private func once<Value>(_ field: inout Value?, _ value: Value?) -> Bool {
    guard field == nil, let value else { return false }
    field = value
    return true
}

/// Matches a key's bytes against a field name in a `switch`.
private func ~= (name: StaticString, key: UnsafeRawBufferPointer) -> Bool {
    key.count == name.utf8CodeUnitCount && (key.count == 0 || memcmp(key.baseAddress!, name.utf8Start, key.count) == 0)
}

/// Reads JSON token by token from bytes, for values of a known shape: objects member by member,
/// strings without escapes, plain integers. Anything else reads as a failure (nil or false), and the
/// caller falls back to ``JSONParser``, which knows all of JSON.
struct JSONScanner {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Only whitespace is left.
    var atEnd: Bool {
        mutating get {
            skipWhitespace()
            return index == bytes.count
        }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// An object, handing each member's key to `member`, which reads the value (false: stop, failed).
    mutating func object(_ member: (inout JSONScanner, UnsafeRawBufferPointer) -> Bool) -> Bool {
        guard take(UInt8(ascii: "{")) else { return false }
        if take(UInt8(ascii: "}")) { return true }
        repeat {
            guard let key = rawString(), take(UInt8(ascii: ":")), member(&self, key) else { return false }
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}"))
    }

    /// A string's bytes between its quotes, if it has no escapes and no control characters.
    private mutating func rawString() -> UnsafeRawBufferPointer? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return UnsafeRawBufferPointer(rebasing: bytes[start ..< index - 1])
            }
            guard byte >= 0x20, byte != UInt8(ascii: "\\") else { return nil }
            index += 1
        }
        return nil
    }

    /// A string without escapes, in valid UTF-8.
    mutating func string() -> String? {
        guard let raw = rawString() else { return nil }
        return raw.allSatisfy({ $0 < 0x80 }) ? String(decoding: raw, as: UTF8.self) : String(validating: raw, as: UTF8.self)
    }

    /// An array of strings without escapes, of at most `limit` of them (past it, nil: the thorough
    /// reader names the problem).
    mutating func strings(atMost limit: Int) -> [String]? {
        guard take(UInt8(ascii: "[")) else { return nil }
        var strings: [String] = []
        if take(UInt8(ascii: "]")) { return strings }
        repeat {
            guard strings.count < limit, let string = string() else { return nil }
            strings.append(string)
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]")) ? strings : nil
    }

    /// An RFC 3339 time in a string (``Timestamp/parse(_:)``).
    mutating func timestamp() -> Date? {
        rawString().flatMap(Timestamp.parse)
    }

    /// An integer as JSON writes one (no fraction or exponent) that fits an `Int`.
    mutating func integer() -> Int? {
        skipWhitespace()
        let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        let start = index
        var value = 0
        while index < bytes.count, case let digit = bytes[index] &- UInt8(ascii: "0"), digit < 10 {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.addingReportingOverflow(Int(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = next
            index += 1
        }
        // JSON allows no leading zeros; a fraction or exponent means a number that is not plain.
        guard index > start, index - start == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
            return nil
        }
        return negative ? -value : value
    }
}
