import Logging

/// How log lines are written: `text` for people (swift-log's line, escaped for a terminal by
/// ``EscapingLogHandler``) or `json` for log shippers (one object a line, ``JSONLogHandler``).
public enum LogFormat: String, CaseIterable, Sendable {
    case text, json
}

/// How the executables set up swift-log: to standard error, at `PARCELFLOW_LOG_LEVEL` (default
/// `warning` for commands people type, `info` for long-running services), in `format`.
public enum LogSetup {
    public static func bootstrap(defaultLevel: Logger.Level, format: LogFormat = .text, environment: [String: String]) {
        let level = environment["PARCELFLOW_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? defaultLevel
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return EscapingLogHandler(handler)
            case .json:
                var handler = JSONLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// Passes every message and metadata value through ``TerminalText/escaped(_:)`` before the stream
/// handler writes it: a log line may quote what a message or a file said, and it goes to a terminal.
public struct EscapingLogHandler<Inner: LogHandler>: LogHandler {
    public var inner: Inner

    public init(_ inner: Inner) { self.inner = inner }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(TerminalText.escaped(event.message.description))"
        event.metadata = event.metadata?.mapValues(Self.escaped)
        inner.log(event: event)
    }

    static func escaped(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): .string(TerminalText.escaped(text))
        case .stringConvertible(let convertible): .string(TerminalText.escaped(convertible.description))
        case .array(let values): .array(values.map(escaped))
        case .dictionary(let values): .dictionary(values.mapValues(escaped))
        }
    }
}
