import Foundation
import ParcelCore
import Testing

@Suite("Terminal text: what reaches a terminal cannot steer it")
struct TerminalTextTests {
    /// True when no character of `text` could steer a terminal (line breaks allowed when asked).
    static func inert(_ text: String, lineBreaks: Bool = false) -> Bool {
        text.unicodeScalars.allSatisfy { !TerminalText.isSteering($0) || lineBreaks && $0 == "\n" }
    }

    @Test("ESC, CR, LF, tab and backslash get their short escapes; other controls \\u{XX}")
    func shortEscapes() {
        #expect(TerminalText.escaped("a\u{1B}[2Jb") == #"a\e[2Jb"#)
        #expect(TerminalText.escaped("one\rtwo\nthree\tfour") == #"one\rtwo\nthree\tfour"#)
        #expect(TerminalText.escaped(#"C:\e"#) == #"C:\\e"#, "a backslash is doubled, so \\e always means ESC")
        #expect(TerminalText.escaped("bell\u{07}nul\u{00}del\u{7F}") == #"bell\u{07}nul\u{00}del\u{7F}"#)
        #expect(TerminalText.escaped("csi\u{9B}31m nel\u{85}") == #"csi\u{9B}31m nel\u{85}"#, "C1 controls")
    }

    @Test("bidirectional overrides, isolates and marks, and the line and paragraph separators, are escaped")
    func bidiEscapes() {
        for value: UInt32 in [0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069,
                              0x2028, 0x2029] {
            let scalar = Unicode.Scalar(value)!
            let expected = "x\\u{" + String(value, radix: 16, uppercase: true) + "}y"
            #expect(TerminalText.escaped("x\(Character(scalar))y") == expected)
        }
        #expect(TerminalText.escaped("invoice\u{202E}fdp.exe") == #"invoice\u{202E}fdp.exe"#)
    }

    @Test("ordinary text, accents and other scripts included, is left exactly as it is")
    func ordinaryTextUnchanged() {
        for text in ["Amina Yusuf", "Ward 3, Base 7", "Zoë Ærøskøbing", "日本語 テキスト", "مرحبا", "emoji 📦", "a-b_c.d", ""] {
            #expect(TerminalText.escaped(text) == text)
            #expect(TerminalText.escapedLines(text) == text)
        }
        #expect(TerminalText.escaped("\u{200B}zero width space") == "\u{200B}zero width space", "not a bidi control")
    }

    @Test("escapedLines keeps line breaks and backslashes, escapes the rest, and leaves escaped values as they are")
    func linesMode() {
        #expect(TerminalText.escapedLines("one\ntwo\u{1B}[2J\rthree\u{202E}") == "one\ntwo\\e[2J\\rthree\\u{202E}")
        #expect(TerminalText.escapedLines(#"path\to"#) == #"path\to"#)
        let value = TerminalText.escaped("P\u{1B}[2J\r\u{202E}\\x")
        #expect(TerminalText.escapedLines("id '\(value)'") == "id '\(value)'")
    }

    @Test("every steering character from U+0000 to U+FFFF comes out escaped, and nothing else is touched")
    func exhaustiveBasicPlane() {
        var steering = 0
        for value in UInt32(0)...0xFFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let text = "a" + String(Character(scalar)) + "b"
            let escaped = TerminalText.escaped(text)
            #expect(Self.inert(escaped), "U+\(String(value, radix: 16)) came through raw")
            if TerminalText.isSteering(scalar) {
                steering += 1
                #expect(escaped != text)
            } else if scalar != "\\" {
                #expect(escaped == text)
            }
        }
        #expect(steering == 32 + 33 + 14, "C0, DEL and C1, and the 14 bidi and separator characters")
    }

    @Test("escapedJSON writes DEL, C1 and bidi characters as \\uXXXX; a JSON reader gets the very same values")
    func jsonEscapes() throws {
        let hostile = "X\u{1B}[2J\r\u{7F}\u{9B}\u{202E}\u{2066}\u{2028}Y \\ \" é"
        let json = JSONValue.object(["name": .string(hostile), hostile: .array([.string(hostile)])]).serialized(pretty: true)
        let escaped = TerminalText.escapedJSON(json)
        #expect(Self.inert(escaped, lineBreaks: true), "\(escaped)")
        #expect(escaped.contains(#"\u001b[2J\r\u007f\u009b\u202e\u2066\u2028Y"#), "\(escaped)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(escaped.utf8)) as? [String: Any])
        #expect(parsed["name"] as? String == hostile)
        #expect((parsed[hostile] as? [String])?.first == hostile)
        #expect(TerminalText.escapedJSON(#"{"plain":"text é"}"#) == #"{"plain":"text é"}"#)
    }
}
