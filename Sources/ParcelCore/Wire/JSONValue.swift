import Foundation

/// Any JSON value, decoded without a schema, so that input can be checked field by field with
/// messages that name the field ("sender.relation: 'cousin2' is not one of …") instead of a decoder's
/// first complaint.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// A whole number, or null when there is none.
    public static func int(_ value: Int?) -> JSONValue { value.map { .integer(Int64($0)) } ?? .null }

    /// A string, or null when there is none.
    public static func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }

    /// Parses JSON text; nil when it is not valid JSON.
    public static func parse(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { JSONParser.parse($0) }
    }

    /// A short description of the value for error messages: its JSON type, and the value when short.
    public var summary: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .integer(let i): "\(i)"
        case .number(let d): "\(d)"
        case .string(let s): s.count <= 40 ? "\"\(s)\"" : "a string of \(s.count) characters"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// Reads typed fields out of JSON objects, collecting one issue per missing, mistyped or unknown
/// field. Fields are named by their full path (`sender.relation`).
public struct JSONFieldReader {
    public private(set) var issues: [ParcelValidationIssue] = []

    public init() {}

    public mutating func fail(_ path: String, _ message: String) {
        issues.append(ParcelValidationIssue(field: path, message: message))
    }

    /// The object at `path`, reporting fields not in `allowed`.
    public mutating func object(_ value: JSONValue?, _ path: String, allowed: Set<String>) -> [String: JSONValue]? {
        guard let value else {
            fail(path, "is missing")
            return nil
        }
        guard case .object(let object) = value else {
            fail(path, "expected an object, got \(value.summary)")
            return nil
        }
        for extra in object.keys.filter({ !allowed.contains($0) }).sorted() {
            let name = Echo.value(extra)
            fail(path.isEmpty ? name : "\(path).\(name)", "is not a known field")
        }
        return object
    }

    public mutating func string(_ object: [String: JSONValue], _ path: String) -> String? {
        switch object[Self.key(path)] {
        case .string(let s)?: return s
        case nil: fail(path, "is missing")
        case let other?: fail(path, "expected a string, got \(other.summary)")
        }
        return nil
    }

    public mutating func integer(_ object: [String: JSONValue], _ path: String) -> Int? {
        switch object[Self.key(path)] {
        case .integer(let i)?: return Int(exactly: i)
        case nil: fail(path, "is missing")
        case let other?: fail(path, "expected a whole number, got \(other.summary)")
        }
        return nil
    }

    /// An array of strings, each element named by its index (`contents.items[2]`) when it is not a string.
    public mutating func strings(_ object: [String: JSONValue], _ path: String) -> [String]? {
        switch object[Self.key(path)] {
        case .array(let values)?:
            var strings: [String] = []
            strings.reserveCapacity(values.count)
            for (index, value) in values.enumerated() {
                guard case .string(let s) = value else {
                    // The first one only: an array of ten thousand numbers is one problem, not ten thousand.
                    fail("\(path)[\(index)]", "expected a string, got \(value.summary)")
                    return nil
                }
                strings.append(s)
            }
            return strings
        case nil: fail(path, "is missing")
        case let other?: fail(path, "expected an array of strings, got \(other.summary)")
        }
        return nil
    }

    static func key(_ path: String) -> String {
        guard let dot = path.utf8.lastIndex(of: UInt8(ascii: ".")) else { return path }
        return String(path[path.utf8.index(after: dot)...])
    }
}

extension JSONValue {
    /// JSON text with keys in sorted order, so the same value always reads the same; `pretty` indents
    /// by two spaces.
    public func serialized(pretty: Bool = false) -> String {
        var out = JSONWriter()
        write(to: &out, pretty: pretty, depth: 0)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    private func write(to out: inout JSONWriter, pretty: Bool, depth: Int) {
        func newline(_ depth: Int) {
            if pretty { out.raw("\n" + String(repeating: "  ", count: depth)) }
        }
        switch self {
        case .null: out.raw("null")
        case .bool(let value): out.raw(value ? "true" : "false")
        case .integer(let value): out.raw(String(value))
        case .number(let value): out.raw(value.isFinite ? "\(value)" : "null")
        case .string(let value): out.string(value)
        case .array(let values):
            guard !values.isEmpty else { return out.raw("[]") }
            out.raw("[")
            for (index, value) in values.enumerated() {
                if index > 0 { out.raw(",") }
                newline(depth + 1)
                value.write(to: &out, pretty: pretty, depth: depth + 1)
            }
            newline(depth)
            out.raw("]")
        case .object(let members):
            guard !members.isEmpty else { return out.raw("{}") }
            out.raw("{")
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out.raw(",") }
                newline(depth + 1)
                out.string(key)
                out.raw(pretty ? ": " : ":")
                members[key]!.write(to: &out, pretty: pretty, depth: depth + 1)
            }
            newline(depth)
            out.raw("}")
        }
    }
}
