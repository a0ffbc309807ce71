/// Turns untrusted input — a JSON object (a JSON Lines file, a task's `parcel`) or a CSV record —
/// into a ``Parcel``, or into every issue found, each naming its field.
public enum ParcelParsing {
    /// The CSV header, in order: one column per leaf field of a parcel.
    public static let csvColumns = [
        "id", "sender_name", "sender_relation", "recipient_name", "recipient_facility", "letters", "drawings",
        "weight_grams", "origin",
    ]

    /// Columns a CSV file may add after ``csvColumns``: `items`, the declared items separated by ';'.
    public static let csvOptionalColumns = ["items"]

    /// What separates the declared items in a CSV file's `items` column.
    public static let csvItemSeparator: Character = ";"

    /// The fields a parcel's JSON objects may hold, made once: every task a worker takes has a parcel.
    private enum Fields {
        static let parcel: Set<String> = ["id", "sender", "recipient", "contents", "weight_grams", "origin"]
        static let sender: Set<String> = ["name", "relation"]
        static let recipient: Set<String> = ["name", "facility"]
        static let contents: Set<String> = ["letters", "drawings", "items"]
    }

    public static func parcel(fromJSON value: JSONValue) -> Result<Parcel, InvalidParcel> {
        var reader = JSONFieldReader()
        let root = reader.object(value, "", allowed: Fields.parcel)
        guard let root else { return .failure(InvalidParcel(issues: reader.issues)) }
        let id = reader.string(root, "id")
        let sender = reader.object(root["sender"], "sender", allowed: Fields.sender)
        let senderName = sender.flatMap { reader.string($0, "sender.name") }
        let relationText = sender.flatMap { reader.string($0, "sender.relation") }
        let recipient = reader.object(root["recipient"], "recipient", allowed: Fields.recipient)
        let recipientName = recipient.flatMap { reader.string($0, "recipient.name") }
        let facility = recipient.flatMap { reader.string($0, "recipient.facility") }
        let contents = reader.object(root["contents"], "contents", allowed: Fields.contents)
        let letters = contents.flatMap { reader.integer($0, "contents.letters") }
        let drawings = contents.flatMap { reader.integer($0, "contents.drawings") }
        let items = contents.flatMap { $0["items"] == nil ? [] : reader.strings($0, "contents.items") }
        let weight = reader.integer(root, "weight_grams")
        let origin = reader.string(root, "origin")
        var relation: Relation?
        if let relationText { relation = parseRelation(relationText, &reader, field: "sender.relation", lenient: false) }
        return build(reader, id, senderName, relation, recipientName, facility, letters, drawings, items, weight, origin)
    }

    /// A CSV record, keyed by the header's column names (see ``csvColumns``).
    public static func parcel(fromCSV record: [String: String]) -> Result<Parcel, InvalidParcel> {
        var reader = JSONFieldReader()
        func text(_ column: String) -> String? {
            guard let value = record[column] else {
                reader.fail(column, "is missing")
                return nil
            }
            return value
        }
        func number(_ column: String) -> Int? {
            guard let value = text(column) else { return nil }
            guard let number = Int(value.trimmingWhitespace()) else {
                reader.fail(column, "expected a whole number, got \"\(Echo.value(value))\"")
                return nil
            }
            return number
        }
        let id = text("id")
        let senderName = text("sender_name")
        var relation: Relation?
        if let relationText = text("sender_relation") {
            // People type CSV files: "Mother " is taken as mother there, not in JSON.
            relation = parseRelation(relationText, &reader, field: "sender_relation", lenient: true)
        }
        let recipientName = text("recipient_name")
        let facility = text("recipient_facility")
        let letters = number("letters")
        let drawings = number("drawings")
        // Optional: "chocolate; photo" is two items; blank pieces ("a;;b", a trailing ';') are no items.
        let items = (record["items"] ?? "").split(separator: csvItemSeparator).map { $0.trimmingWhitespace() }
            .filter { !$0.isEmpty }
        let weight = number("weight_grams")
        let origin = text("origin")
        return build(reader, id, senderName, relation, recipientName, facility, letters, drawings, items, weight, origin,
                     csvNames: true)
    }

    private static func parseRelation(_ text: String, _ reader: inout JSONFieldReader, field: String,
                                      lenient: Bool) -> Relation? {
        if let relation = Relation(rawValue: lenient ? text.trimmingWhitespace().lowercased() : text) { return relation }
        reader.fail(field, "\(Echo.quoted(text)) is not a known relation (one of \(Relation.allCases.map(\.rawValue).joined(separator: ", ")))")
        return nil
    }

    private static func build(_ reader: JSONFieldReader, _ id: String?, _ senderName: String?, _ relation: Relation?,
                              _ recipientName: String?, _ facility: String?, _ letters: Int?, _ drawings: Int?,
                              _ items: [String]?, _ weight: Int?, _ origin: String?,
                              csvNames: Bool = false) -> Result<Parcel, InvalidParcel> {
        // Missing or mistyped fields get valid stand-ins, so that the rules still check every field
        // that was given: one pass reports all of a line's problems.
        let parcel = Parcel(
            id: id ?? "x", sender: .init(name: senderName ?? "x", relation: relation ?? .friend),
            recipient: .init(name: recipientName ?? "x", facility: facility ?? "x"),
            contents: .init(letters: letters ?? 1, drawings: drawings ?? 1, items: items ?? []), weightGrams: weight ?? 1,
            origin: origin ?? "x")
        let rules = parcel.validationIssues.map { issue in
            csvNames ? ParcelValidationIssue(field: csvColumn(for: issue.field), message: issue.message) : issue
        }
        let issues = reader.issues + rules
        return issues.isEmpty ? .success(parcel) : .failure(InvalidParcel(issues: issues))
    }

    /// The CSV column a JSON field path is read from.
    static func csvColumn(for field: String) -> String {
        switch field {
        case "sender.name": "sender_name"
        case "sender.relation": "sender_relation"
        case "recipient.name": "recipient_name"
        case "recipient.facility": "recipient_facility"
        case "contents.letters": "letters"
        case "contents.drawings": "drawings"
        case "contents": "letters/drawings"
        case _ where field.hasPrefix("contents.items"): String(field.dropFirst("contents.".count))
        default: field
        }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
