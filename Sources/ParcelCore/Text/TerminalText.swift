/// Text from outside (a file, the store, a message, the broker) made safe to print on a terminal.
///
/// A terminal obeys what it is sent: `ESC [ 2 J` clears the screen, a carriage return lets the rest
/// of a line overwrite its start, U+202E shows what follows backwards. So every character that
/// could change what the terminal shows is printed as a visible escape instead:
///
/// - `\e` (ESC), `\r`, `\n`, `\t`, and `\\` for a backslash itself (so `\e` in the output always
///   means ESC, never the two characters `\` `e`);
/// - every other C0 control, DEL and every C1 control (U+0080–U+009F) as `\u{XX}`, e.g. `\u{07}`;
/// - the bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) and the line
///   and paragraph separators (U+2028, U+2029) as `\u{XXXX}`, e.g. `\u{202E}`.
///
/// Everything else, accents and other scripts included, is printed as it is.
public enum TerminalText {
    /// One value from outside, for one line: every character that could steer the terminal, line
    /// breaks and backslashes included, becomes a visible escape.
    public static func escaped(_ value: String) -> String {
        escape(value, keepingLineBreaks: false)
    }

    /// Text this program composed, possibly several lines, holding values from outside: the same
    /// escapes, except that `\n` stays a line break and a backslash stays as it is. A value already
    /// passed through ``escaped(_:)`` is unchanged by this, so printers can apply it to everything.
    public static func escapedLines(_ text: String) -> String {
        escape(text, keepingLineBreaks: true)
    }

    /// JSON text (as ``JSONValue/serialized(pretty:)`` writes it), with DEL, the C1 controls, the
    /// bidirectional controls and U+2028/U+2029 written as `\uXXXX`. JSON already escapes C0 controls;
    /// these others may appear raw in a JSON string, and only inside one, where `\uXXXX` means the
    /// same character: a JSON reader gets exactly the same value.
    public static func escapedJSON(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: isSteering) else { return json }
        var out = ""
        for scalar in json.unicodeScalars {
            if isSteering(scalar), scalar.value >= 0x20 {
                out += "\\u" + hex(scalar.value, digits: 4).lowercased()
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// True for the characters shown escaped: C0 and C1 controls, DEL, bidirectional controls, and
    /// the line and paragraph separators.
    public static func isSteering(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0x2028, 0x2029: true
        default: false
        }
    }

    private static func escape(_ text: String, keepingLineBreaks: Bool) -> String {
        // The common case: printable ASCII and nothing to change.
        let plain = text.utf8.allSatisfy { byte in
            (0x20..<0x7F).contains(byte) && (keepingLineBreaks || byte != UInt8(ascii: "\\")) || keepingLineBreaks && byte == 0x0A
        }
        if plain { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n" where keepingLineBreaks: out += "\n"
            case "\\": out += keepingLineBreaks ? "\\" : "\\\\"
            case "\u{1B}": out += "\\e"
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case _ where isSteering(scalar): out += "\\u{" + hex(scalar.value, digits: 2) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
