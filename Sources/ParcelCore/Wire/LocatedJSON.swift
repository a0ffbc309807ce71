/// JSON that remembers the line of every value and key, for files people write (the inspection
/// rules), whose errors must say where.
///
/// ``JSONParser`` reads a task per message and keeps no positions; this one reads a configuration
/// file once at start. It is also stricter: a key repeated in one object is an error (a parser that
/// keeps the last copy would silently drop a rule), nesting is bounded before it recurses, and a
/// syntax error says its line and column.
public struct LocatedJSON: Sendable, Hashable {
    public indirect enum Value: Sendable, Hashable {
        case null
        case bool(Bool)
        case integer(Int64)
        /// A number with a fraction or exponent, or too large for an integer.
        case number(Double)
        case string(String)
        case array([LocatedJSON])
        /// Members in the order of the text.
        case object([Member])
    }

    public struct Member: Sendable, Hashable {
        public var key: String
        /// The line the key is on.
        public var line: Int
        public var value: LocatedJSON
    }

    public var value: Value
    /// The line the value starts on, from 1.
    public var line: Int

    /// The value's JSON type, and the value itself when short, for error messages.
    public var summary: String {
        switch value {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .integer(let i): "\(i)"
        case .number(let d): "\(d)"
        case .string(let s): s.unicodeScalars.count <= 40 ? "\"\(s)\"" : "a string of \(s.unicodeScalars.count) characters"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Parses a whole document: one value and nothing after it but whitespace.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 32) throws(LocatedJSONError) -> LocatedJSON {
        if bytes.contains(where: { $0 >= 0x80 }), String(validating: bytes, as: UTF8.self) == nil {
            let valid = validPrefix(bytes)
            let line = 1 + bytes[..<valid].count(where: { $0 == UInt8(ascii: "\n") })
            throw LocatedJSONError(line: line, column: nil, message: "not valid UTF-8 (save the file as UTF-8)")
        }
        var parser = LocatedJSONParser(bytes: bytes, maxDepth: maxDepth)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected text after the end of the JSON value") }
        return value
    }

    /// How many leading bytes are valid UTF-8.
    private static func validPrefix(_ bytes: [UInt8]) -> Int {
        var offset = 0
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while case .scalarValue(let scalar) = decoder.decode(&iterator) { offset += UTF8.width(scalar) }
        return offset
    }
}

/// Why a file is not JSON: its line and, for syntax, the column (in bytes, from 1).
public struct LocatedJSONError: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int?
    public var message: String

    public var description: String { "line \(line)" + (column.map { ", column \($0)" } ?? "") + ": \(message)" }
}

private struct LocatedJSONParser {
    let bytes: [UInt8]
    let maxDepth: Int
    var index = 0
    var line = 1
    var lineStart = 0
    var depth = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    func error(_ message: String) -> LocatedJSONError {
        LocatedJSONError(line: line, column: index - lineStart + 1, message: message)
    }

    /// What is at the current position, for "expected …, found …".
    var found: String {
        guard let byte = current else { return "the end of the file" }
        if byte >= 0x21, byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return byte < 0x80 ? String(format: "byte 0x%02X", byte) : "a non-ASCII character"
    }

    mutating func skipWhitespace() {
        while let byte = current {
            switch byte {
            case 0x20, 0x09, 0x0D: index += 1
            case 0x0A:
                index += 1
                line += 1
                lineStart = index
            default: return
            }
        }
    }

    mutating func value() throws(LocatedJSONError) -> LocatedJSON {
        skipWhitespace()
        let start = line
        guard let byte = current else { throw error("expected a value, found the end of the file") }
        switch byte {
        case UInt8(ascii: "{"): return LocatedJSON(value: try object(), line: start)
        case UInt8(ascii: "["): return LocatedJSON(value: try array(), line: start)
        case UInt8(ascii: "\""): return LocatedJSON(value: .string(try string()), line: start)
        case UInt8(ascii: "t"): return LocatedJSON(value: try literal("true", .bool(true)), line: start)
        case UInt8(ascii: "f"): return LocatedJSON(value: try literal("false", .bool(false)), line: start)
        case UInt8(ascii: "n"): return LocatedJSON(value: try literal("null", .null), line: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return LocatedJSON(value: try number(), line: start)
        default: throw error("expected a value, found \(found)")
        }
    }

    mutating func literal(_ text: String, _ value: LocatedJSON.Value) throws(LocatedJSONError) -> LocatedJSON.Value {
        let expected = Array(text.utf8)
        guard bytes[index...].starts(with: expected) else { throw error("expected a value, found \(found)") }
        index += expected.count
        return value
    }

    mutating func enter() throws(LocatedJSONError) {
        depth += 1
        guard depth <= maxDepth else { throw error("nested deeper than \(maxDepth) levels") }
    }

    mutating func object() throws(LocatedJSONError) -> LocatedJSON.Value {
        try enter()
        defer { depth -= 1 }
        index += 1
        var members: [LocatedJSON.Member] = []
        var lines: [String: Int] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a key in double quotes, found \(found)") }
            let keyLine = line
            let key = try string()
            if let first = lines[key] {
                throw LocatedJSONError(line: keyLine, column: nil,
                                       message: "the key \(Echo.quoted(key)) appears twice in one object (first on line \(first))")
            }
            lines[key] = keyLine
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after a key, found \(found)") }
            index += 1
            members.append(LocatedJSON.Member(key: key, line: keyLine, value: try value()))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(members)
            default: throw error("expected ',' or '}' after a member, found \(found)")
            }
        }
    }

    mutating func array() throws(LocatedJSONError) -> LocatedJSON.Value {
        try enter()
        defer { depth -= 1 }
        index += 1
        var items: [LocatedJSON] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            items.append(try value())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(items)
            default: throw error("expected ',' or ']' after an element, found \(found)")
            }
        }
    }

    /// A string, from its opening quote; the text was checked as UTF-8 before.
    mutating func string() throws(LocatedJSONError) -> String {
        index += 1
        var utf8: [UInt8] = []
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: utf8, as: UTF8.self) else { throw error("a string is not valid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                switch JSONLexing.unescape(bytes, at: &index, into: &utf8) {
                case nil: break
                case .truncated: throw error("a string is not closed before the end of the file")
                case .notHex: throw error("\\u needs four hexadecimal digits")
                case .loneHighSurrogate: throw error("a \\u escape of a high surrogate without its low surrogate")
                case .loneLowSurrogate: throw error("a \\u escape of a lone low surrogate")
                case .unknown(let escaped): throw error("'\\\(Character(Unicode.Scalar(escaped)))' is not a JSON escape")
                }
            case ..<0x20:
                throw error(byte == 0x0A ? "a string is not closed on its line" : "a control character inside a string (write it as \\u00XX)")
            default:
                utf8.append(byte)
                index += 1
            }
        }
        throw error("a string is not closed before the end of the file")
    }

    mutating func number() throws(LocatedJSONError) -> LocatedJSON.Value {
        let start = index
        guard let integral = JSONLexing.scanNumber(bytes, at: &index) else { throw error("expected a digit, found \(found)") }
        if let byte = current, JSONLexing.isDigit(byte) { throw error("a number may not start with 0") }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if integral, let value = Int64(text) { return .integer(value) }
        guard let value = Double(text), value.isFinite else { throw error("\(text) is not a number this file can hold") }
        return .number(value)
    }
}
