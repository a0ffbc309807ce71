import Foundation
import ParcelCore
import Testing

@Suite("JSON parsing")
struct JSONParserTests {
    func parse(_ text: String) -> JSONValue? { JSONValue.parse(Data(text.utf8)) }

    @Test("values of every kind, with whitespace and nesting")
    func values() {
        #expect(parse(#" { "a" : [1, -2.5, 3e2, true, false, null, "x"], "b": {} , "c": [] } "#) == .object([
            "a": .array([.integer(1), .number(-2.5), .number(300), .bool(true), .bool(false), .null, .string("x")]),
            "b": .object([:]), "c": .array([]),
        ]))
        #expect(parse("9223372036854775807") == .integer(Int64.max))
        #expect(parse("9223372036854775808") == .number(9_223_372_036_854_775_808))
        #expect(parse("-0") == .integer(0))
    }

    @Test("string escapes, UTF-8 and surrogate pairs")
    func strings() {
        #expect(parse(#""q\"b\\s\/n\nt\tr\ru\u00e9\ud83d\udc27""#) == .string("q\"b\\s/n\nt\tr\ru\u{e9}🐧"))
        #expect(parse(#""Zoë 李 🏥""#) == .string("Zoë 李 🏥"))
    }

    @Test("invalid JSON is refused", arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "{a:1}", "'x'", "01", "1.", "1e", "tru", "nul", "\"\\x\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"a\nb\"", "1 2", "{} x", "[1] ]", "-", "+1",
        String(repeating: "[", count: 65) + String(repeating: "]", count: 65),
    ])
    func invalid(text: String) {
        #expect(parse(text) == nil, "accepted \(text.debugDescription)")
    }

    @Test("bytes that are not UTF-8 inside a string are refused")
    func notUTF8() {
        #expect(JSONValue.parse(Data([0x22, 0xC3, 0x28, 0x22])) == nil)
        #expect(JSONValue.parse(Data([0x22, 0xC3, 0xA9, 0x22])) == .string("é"))
    }
}
