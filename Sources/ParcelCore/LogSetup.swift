import Logging

/// How the executables set up swift-log: to standard error, at `PARCELFLOW_LOG_LEVEL` (default
/// `warning` for commands people type, `info` for long-running services).
public enum LogSetup {
    public static func bootstrap(defaultLevel: Logger.Level, environment: [String: String]) {
        let level = environment["PARCELFLOW_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? defaultLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
