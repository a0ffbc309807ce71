/// What a person writes when reviewing a held parcel — a release's note, a return's reason — and
/// who they are, checked before anything is recorded.
///
/// Both go into the parcel's history, which the CLI, the report, the dashboard and whoever reads the
/// database print: so they are bounded, and hold no control, bidirectional or line-separator
/// character (``TerminalText/isSteering(_:)``). Text that breaks a rule is refused with the rule, not
/// cleaned silently: what is recorded is exactly what the person typed.
public enum ReviewText {
    /// The longest note or reason, in characters (what fits on a line or two of a report).
    public static let maxCharacters = 500
    /// The longest reviewer name, in characters.
    public static let maxNameCharacters = 64

    /// Why a text was refused.
    public struct Refusal: Error, Hashable, CustomStringConvertible {
        public let description: String
    }

    /// `text` without its surrounding spaces, or why it cannot be recorded; `field` names it in the
    /// refusal (`--note`). An empty text is refused: leave the option out instead.
    public static func checked(_ text: String, field: String) -> Result<String, Refusal> {
        let trimmed = text.trimmingSpaces()
        guard !trimmed.isEmpty else { return .failure(Refusal(description: "\(field) is empty")) }
        if let index = trimmed.unicodeScalars.firstIndex(where: TerminalText.isSteering) {
            let position = trimmed.unicodeScalars.distance(from: trimmed.unicodeScalars.startIndex, to: index) + 1
            let value = String(trimmed.unicodeScalars[index].value, radix: 16, uppercase: true)
            return .failure(Refusal(description: "\(field) holds a control character (U+\(String(repeating: "0", count: max(0, 4 - value.count)) + value)) "
                + "at character \(position): write it on one line, with no control characters"))
        }
        guard trimmed.count <= maxCharacters else {
            return .failure(Refusal(description: "\(field) is \(trimmed.count) characters long; at most \(maxCharacters) are allowed"))
        }
        return .success(trimmed)
    }

    /// Who is reviewing, for the history: the OS account's name (`passwd`, as the effective user id
    /// finds it), else `$USER`, else the numeric user id; a name that is empty, too long or holds a
    /// control character is passed over for the next.
    public static func reviewer(accountName: String?, environmentUser: String?, userID: UInt32) -> String {
        for candidate in [accountName, environmentUser] {
            guard let name = candidate?.trimmingSpaces(), !name.isEmpty, name.count <= maxNameCharacters,
                  !name.unicodeScalars.contains(where: TerminalText.isSteering) else { continue }
            return name
        }
        return "uid \(userID)"
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true, s.first?.unicodeScalars.contains(where: TerminalText.isSteering) == false { s = s.dropFirst() }
        while s.last?.isWhitespace == true, s.last?.unicodeScalars.contains(where: TerminalText.isSteering) == false { s = s.dropLast() }
        return String(s)
    }
}
