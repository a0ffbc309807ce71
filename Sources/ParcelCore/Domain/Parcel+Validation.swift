/// One thing wrong with a parcel: which field, and what.
public struct ParcelValidationIssue: Sendable, Hashable, CustomStringConvertible {
    /// The field's path as it appears in JSON, e.g. `sender.relation`.
    public let field: String
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// A parcel that cannot be submitted, with every reason.
public struct InvalidParcel: Error, Sendable, Hashable, CustomStringConvertible {
    public let issues: [ParcelValidationIssue]

    public init(issues: [ParcelValidationIssue]) {
        self.issues = issues
    }

    public var description: String { issues.map(\.description).joined(separator: "; ") }
}

extension Parcel {
    public static let maxWeightGrams = 30_000
    /// Letters, and drawings, in one parcel at most.
    public static let maxItems = 1_000
    public static let maxIDLength = 64
    public static let maxTextLength = 120
    /// Declared items (``Contents/items``) in one parcel at most.
    public static let maxDeclaredItems = 20
    /// One declared item's length at most, in Unicode scalars.
    public static let maxItemLength = 60

    /// Everything wrong with this parcel, in field order; empty when it may be submitted.
    public var validationIssues: [ParcelValidationIssue] {
        var issues: [ParcelValidationIssue] = []
        func fail(_ field: String, _ message: String) { issues.append(ParcelValidationIssue(field: field, message: message)) }

        if id.isEmpty {
            fail("id", "is empty")
        } else if id.utf8.count > Self.maxIDLength {
            fail("id", "is longer than \(Self.maxIDLength) characters")
        } else if !Self.isID(id) {
            fail("id", "\(Echo.quoted(id)) may hold only letters, digits, '.', '_' and '-', starting with a letter or digit")
        }
        Self.checkText(sender.name, "sender.name", &issues)
        Self.checkText(recipient.name, "recipient.name", &issues)
        Self.checkText(recipient.facility, "recipient.facility", &issues)
        for (count, field) in [(contents.letters, "contents.letters"), (contents.drawings, "contents.drawings")]
        where !(0...Self.maxItems).contains(count) {
            fail(field, "must be from 0 to \(Self.maxItems) (got \(count))")
        }
        if contents.letters == 0, contents.drawings == 0 {
            fail("contents", "a parcel holds at least one letter or drawing")
        }
        if contents.items.count > Self.maxDeclaredItems {
            fail("contents.items", "declares \(contents.items.count) items, at most \(Self.maxDeclaredItems)")
        } else {
            for (index, item) in contents.items.enumerated() {
                Self.checkText(item, "contents.items[\(index)]", &issues, maxLength: Self.maxItemLength)
            }
        }
        if !(1...Self.maxWeightGrams).contains(weightGrams) {
            fail("weight_grams", "must be from 1 to \(Self.maxWeightGrams) grams (got \(weightGrams))")
        }
        Self.checkText(origin, "origin", &issues)
        return issues
    }

    /// Letters, digits, '.', '_' and '-', starting with a letter or digit; all ASCII, so read byte by
    /// byte (any byte of a longer character fails).
    private static func isID(_ id: String) -> Bool {
        var id = id
        return id.withUTF8 { bytes in
            guard let first = bytes.first, isAlphanumeric(first) else { return false }
            return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// Text rules, counted in Unicode scalars as JSON Schema counts them, so both agree on every input.
    /// Every task's texts pass through here: ASCII text, the common case, is judged in one pass over
    /// its bytes, without looking up Unicode properties.
    static func checkText(_ text: String, _ field: String, _ issues: inout [ParcelValidationIssue],
                          maxLength: Int = maxTextLength) {
        var text = text
        enum Verdict { case fine, empty, tooLong, control, notASCII }
        let verdict = text.withUTF8 { bytes -> Verdict in
            var blank = true
            var control = false
            for byte in bytes {
                if byte >= 0x80 { return .notASCII }
                if byte != 0x20 && !(0x09...0x0D).contains(byte) { blank = false }
                if byte < 0x20 || byte == 0x7F { control = true }
            }
            return blank ? .empty : bytes.count > maxLength ? .tooLong : control ? .control : .fine
        }
        switch verdict {
        case .fine: return
        case .empty: issues.append(ParcelValidationIssue(field: field, message: "is empty"))
        case .tooLong: issues.append(ParcelValidationIssue(field: field, message: "is longer than \(maxLength) characters"))
        case .control: issues.append(ParcelValidationIssue(field: field, message: "contains a control character"))
        case .notASCII:
            if text.unicodeScalars.allSatisfy(\.properties.isWhitespace) {
                issues.append(ParcelValidationIssue(field: field, message: "is empty"))
            } else if text.unicodeScalars.count > maxLength {
                issues.append(ParcelValidationIssue(field: field, message: "is longer than \(maxLength) characters"))
            } else if text.unicodeScalars.contains(where: isControl) {
                issues.append(ParcelValidationIssue(field: field, message: "contains a control character"))
            }
        }
    }

    /// General category Cc, without looking it up: Unicode's stability policy fixes that category at
    /// U+0000–U+001F and U+007F–U+009F for good.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
