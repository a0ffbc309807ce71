#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Synchronization

/// Writes each log event as one line of JSON, for log shippers (`--log-format json`):
///
///     {"time":"2026-12-05T03:56:28.123Z","level":"info","label":"parcelflow.worker","source":"ParcelRabbit","message":"working","parcel.id":"p-1"}
///
/// `time` is RFC 3339 in UTC with milliseconds; then `level`, `label`, `source` (the module that
/// logged) and `message`; then every metadata key, as it is (dotted keys such as `task.stage` stay flat
/// member names), in sorted order. A metadata key that is one of those five members is written as
/// `metadata.KEY` (and so on, until the name is free). A metadata value is a string, cut like
/// ``Echo/reason(_:)`` (at most ``Echo/maxReasonBytes`` UTF-8 bytes, ending `…(cut)`) so that one huge
/// value cannot make a huge line; a list is an array and a dictionary an object of such strings. The
/// message, which the program composes, is not cut.
///
/// Every string is escaped as JSON requires (`"`, `\`, and the C0 controls), and the other characters
/// that steer a terminal (DEL, the C1 controls, the bidirectional controls, U+2028 and U+2029: see
/// ``TerminalText``) are written as `\uXXXX` too, so that the line is also safe to read on a
/// terminal. Everything else, characters beyond the BMP included, is written as UTF-8.
public struct JSONLogHandler: LogHandler {
    /// The members every line starts with.
    static let fixedMembers: Set<String> = ["time", "level", "label", "source", "message"]

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let output: @Sendable (String) -> Void

    /// A handler that passes each line, its final `\n` included, to `output`.
    public init(label: String, output: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.output = output
    }

    /// A handler that writes to standard error, one whole line at a time.
    public static func standardError(label: String) -> JSONLogHandler {
        JSONLogHandler(label: label, output: writeToStandardError)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        output(Self.line(time: Self.now(), level: event.level, label: label, source: event.source,
                        message: event.message.description, metadata: merged))
    }

    /// A line written at once, whatever the level: for what a program says as it fails.
    public static func line(level: Logger.Level, label: String, source: String, message: String) -> String {
        line(time: now(), level: level, label: label, source: source, message: message, metadata: [:])
    }

    /// One event as a line of JSON, `\n` included.
    static func line(time: String, level: Logger.Level, label: String, source: String, message: String,
                     metadata: Logger.Metadata) -> String {
        var out = "{"
        member(&out, "time", time, first: true)
        member(&out, "level", level.rawValue)
        member(&out, "label", label)
        member(&out, "source", source)
        member(&out, "message", message)
        for key in metadata.keys.sorted() {
            var name = key
            // A key named like a fixed member moves aside; should `metadata.time` be a key too, `time` becomes
            // `metadata.metadata.time`: every name stays unique.
            while fixedMembers.contains(name) || name != key && metadata[name] != nil { name = "metadata." + name }
            out += ","
            string(&out, name)
            out += ":"
            value(&out, metadata[key]!)
        }
        return out + "}\n"
    }

    private static func member(_ out: inout String, _ key: String, _ text: String, first: Bool = false) {
        if !first { out += "," }
        string(&out, key)
        out += ":"
        string(&out, text)
    }

    private static func value(_ out: inout String, _ value: Logger.Metadata.Value) {
        switch value {
        case .string(let text): string(&out, Echo.reason(text))
        case .stringConvertible(let convertible): string(&out, Echo.reason(convertible.description))
        case .array(let values):
            out += "["
            for (index, element) in values.enumerated() {
                if index > 0 { out += "," }
                Self.value(&out, element)
            }
            out += "]"
        case .dictionary(let values):
            out += "{"
            for (index, key) in values.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                string(&out, key)
                out += ":"
                Self.value(&out, values[key]!)
            }
            out += "}"
        }
    }

    /// `text` as a JSON string, quotes included.
    static func string(_ out: inout String, _ text: String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where TerminalText.isSteering(scalar): out += "\\u" + hex4(scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    private static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Writes `line` to standard error whole, under a lock, so that lines logged at once from several
    /// threads never interleave.
    public static func writeToStandardError(_ line: String) {
        var line = line
        standardErrorLock.withLock { _ in
            line.withUTF8 { bytes in
                guard var next = bytes.baseAddress else { return }
                var left = bytes.count
                while left > 0 {
                    let written = write(2, next, left)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return // Nowhere left to say so.
                    }
                    next += written
                    left -= written
                }
            }
        }
    }

    /// Now, as RFC 3339 in UTC with milliseconds.
    static func now() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return rfc3339(seconds: Int(now.tv_sec), milliseconds: Int(now.tv_nsec) / 1_000_000)
    }

    /// `2026-12-05T03:56:28.123Z` for that many seconds and milliseconds after 1970-01-01T00:00:00Z.
    static func rfc3339(seconds: Int, milliseconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return "1970-01-01T00:00:00.000Z" }
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds), 3))Z"
    }
}

private let standardErrorLock = Mutex(())
