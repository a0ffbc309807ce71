import ArgumentParser
import Foundation
import Logging
import ParcelCore

extension AsyncParsableCommand {
    /// The executables' entry point: set up logging (to standard error, `PARCELFLOW_LOG_LEVEL` or
    /// `defaultLevel`), parse, run, and turn any error into one line and a non-zero exit status.
    /// Error messages quote ids, file contents and broker replies, so they are printed through
    /// ``TerminalText``, as ArgumentParser's `exit(withError:)` would print them otherwise.
    public static func runMain(defaultLogLevel: Logger.Level) async {
        LogSetup.bootstrap(defaultLevel: defaultLogLevel, environment: ProcessInfo.processInfo.environment)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
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
