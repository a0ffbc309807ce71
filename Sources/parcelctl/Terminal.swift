import Foundation
import ParcelCore

/// Output helpers: lines to standard output and standard error, and a progress bar that shows only
/// on a terminal. Every line goes through ``TerminalText``, so no text from a file, the store or the
/// broker can steer the terminal; a value that must stay on its line is passed through
/// `TerminalText.escaped` (here `Terminal.value`) where the line is composed.
enum Terminal {
    /// Lines to standard output, their control and bidirectional characters shown escaped.
    static func print(_ text: String) {
        Swift.print(TerminalText.escapedLines(text))
    }

    /// A JSON document to standard output (JSON escapes C0 controls; this escapes the rest too).
    static func print(_ json: JSONValue, pretty: Bool = false) {
        Swift.print(TerminalText.escapedJSON(json.serialized(pretty: pretty)))
    }

    static func error(_ line: String) {
        FileHandle.standardError.write(Data((TerminalText.escapedLines(line) + "\n").utf8))
    }

    /// One value from outside, escaped whole (line breaks too) to sit inside a line.
    static func value(_ text: String) -> String { TerminalText.escaped(text) }

    static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    static func count(_ n: Int) -> String { NumberText.integer(n) }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f s", duration / .seconds(1))
    }

    /// A state as people read it: `dead-lettered`.
    static func name(_ state: ParcelStatus.State) -> String { state.rawValue.replacingOccurrences(of: "_", with: "-") }

    static func plural(_ n: Int, _ word: String) -> String { "\(count(n)) \(word)\(n == 1 ? "" : "s")" }
}

/// `queued 1,200 of 2,000 [##########----------] 60%` on standard error, redrawn in place, at most
/// every 50 ms; silent when standard error is not a terminal (piped output stays clean).
final class ProgressBar: @unchecked Sendable {
    // @unchecked: `lastDraw` and `drawn` are touched only under `lock`.
    private let label: String
    private let enabled: Bool
    private let lock = NSLock()
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var drawn = false

    init(label: String, enabled: Bool = Terminal.standardErrorIsTerminal) {
        self.label = label
        self.enabled = enabled
    }

    func update(_ done: Int, of total: Int) {
        guard enabled, total > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        guard done == total || now - lastDraw >= .milliseconds(50) else { return }
        lastDraw = now
        drawn = true
        let width = 30
        let filled = width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = "\r\(label) \(Terminal.count(done)) of \(Terminal.count(total)) [\(bar)] \(100 * done / total)%"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Ends the bar's line, if one was drawn.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }
}
