import ArgumentParser
import ParcelCore

extension LogFormat: ExpressibleByArgument {}

/// `--log-format text|json`, which every command takes (default: `PARCELFLOW_LOG_FORMAT`, else text).
///
/// Logging is set up before the command line is parsed (so that nothing logged while parsing or
/// validating is lost), so ``runMain(defaultLogLevel:)`` takes the option out of the arguments itself,
/// wherever it stands, before ArgumentParser sees them. A command declares `@OptionGroup var logOptions:
/// LogOptions` only to list the option in its help; the parsed value is never set.
public struct LogOptions: ParsableArguments {
    public init() {}

    @Option(help: ArgumentHelp("How log lines on standard error are written: text, or json (one object a line).",
                               discussion: "Default: PARCELFLOW_LOG_FORMAT, else text. Every command takes it, anywhere on its command line.",
                               valueName: "format"))
    public var logFormat: LogFormat?

    static let flag = "--log-format"
    static let environmentVariable = "PARCELFLOW_LOG_FORMAT"

    /// The format `arguments` (without the program's name) or `environment` ask for, the last
    /// `--log-format` winning over the environment; every `--log-format` (`--log-format json` or
    /// `--log-format=json`) is removed from `arguments`. Arguments after `--` are left alone.
    public static func take(from arguments: inout [String], environment: [String: String]) throws -> LogFormat {
        var format: LogFormat?
        var kept: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" {
                kept += arguments[index...]
                break
            }
            if argument == flag || argument.hasPrefix(flag + "=") {
                let value: String
                if argument == flag {
                    index += 1
                    guard index < arguments.endIndex else { throw ValidationError("Missing value for '\(flag) <format>'") }
                    value = arguments[index]
                } else {
                    value = String(argument.dropFirst(flag.count + 1))
                }
                format = try parse(value, from: "'\(flag) <format>'")
            } else {
                kept.append(argument)
            }
            index += 1
        }
        arguments = kept
        if let format { return format }
        guard let value = environment[environmentVariable], !value.isEmpty else { return .text }
        return try parse(value.lowercased(), from: environmentVariable)
    }

    private static func parse(_ value: String, from source: String) throws -> LogFormat {
        guard let format = LogFormat(rawValue: value) else {
            let choices = LogFormat.allCases.map { "'\($0.rawValue)'" }.joined(separator: " or ")
            throw ValidationError("The value '\(TerminalText.escaped(value))' is invalid for \(source). Please provide one of \(choices).")
        }
        return format
    }
}
