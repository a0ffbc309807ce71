import ArgumentParser
import Foundation
import Logging
import ParcelCore

extension AsyncParsableCommand {
    /// The executables' entry point: set up logging (to standard error, `PARCELFLOW_LOG_LEVEL` or
    /// `defaultLevel`, in the format ``LogOptions`` takes out of the arguments), parse, run, and turn any
    /// error into one line (a line of JSON with `--log-format json`) and a non-zero exit status. Error
    /// messages quote ids, file contents and broker replies, so they are printed through
    /// ``TerminalText``, as ArgumentParser's `exit(withError:)` would print them otherwise.
    public static func runMain(defaultLogLevel: Logger.Level) async {
        let environment = ProcessInfo.processInfo.environment
        var arguments = Array(CommandLine.arguments.dropFirst())
        let format = Result { try LogOptions.take(from: &arguments, environment: environment) }
        LogSetup.bootstrap(defaultLevel: defaultLogLevel, format: (try? format.get()) ?? .text, environment: environment)
        do {
            _ = try format.get()
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            // In JSON, a failure is one more line of JSON for the log shipper (escaped as JSON).
            if !code.isSuccess, (try? format.get()) == .json {
                let message = fullMessage(for: error)
                if !message.isEmpty {
                    JSONLogHandler.writeToStandardError(JSONLogHandler.line(
                        level: .error, label: configuration.commandName ?? "parcelflow", source: "ParcelCommandLine", message: message))
                }
                Foundation.exit(code.rawValue)
            }
            let message = TerminalText.escapedLines(fullMessage(for: error))
            if !message.isEmpty {
                if code.isSuccess {
                    print(message)
                } else {
                    FileHandle.standardError.write(Data((message + "\n").utf8))
                }
            }
            Foundation.exit(code.rawValue)
        }
    }
}
