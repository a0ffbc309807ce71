import Foundation
import ParcelCore
import ParcelWorkerRuntime

/// What a service's answer means for the task: the HTTP handler's status mapping, pure of any
/// network so that every row is tested on its own (and, through a real server, end to end).
///
/// | status | outcome |
/// | --- | --- |
/// | 2xx | done; the body is empty or a JSON object of payload fields the stage records |
/// | 409 | done already (a repeat of a handover that succeeded): done, with the payload carried |
/// | 400, 422 | permanent failure, the reason from the body |
/// | 423 | held, the reason from the body (`{"reason": "…"}` or plain text) |
/// | 429, 503 | transient, after `Retry-After` when given (seconds or an HTTP date, at most a day) |
/// | 408, 425, other 5xx | transient |
/// | 3xx | permanent: redirects are not followed (point the handler at the final URL) |
/// | other 4xx (401, 403, 404, …) | permanent: asking again will not help |
public enum HTTPAnswer {
    /// The most of a reason taken from a body, in characters.
    public static let maxReasonCharacters = 500
    /// The longest `Retry-After` honoured; a longer one is cut to this (the retry policy's longest
    /// tier bounds the wait again).
    public static let maxRetryAfter: Duration = .seconds(86_400)

    /// The outcome of `task` at `stage` for an answer with `status`, its `Retry-After` header and
    /// `body` (already bounded in size); `from` names the service in reasons, `now` dates the stand-ins.
    public static func outcome(status: Int, retryAfter: String?, body: Data, task: TaskEnvelope, from service: String,
                               now: Date) -> Result<StageOutcome, TaskFailure> {
        let stage = task.stage
        func said() -> String {
            let text = reason(from: body)
            return text.isEmpty ? "" : ": \(text)"
        }
        switch status {
        case 200...299:
            switch task.payload.adding(answeredFor: stage, json: body) {
            case .success(let payload):
                return .success(.completed(payload.fillingIn(recordedBy: stage, from: task, at: now)))
            case .failure(let rejection):
                return .failure(.permanent("HTTP \(status) from \(service), but its answer is refused: \(rejection.reason)"))
            }
        case 409:
            return .success(.completed(task.payload.fillingIn(recordedBy: stage, from: task, at: now)))
        case 400, 422:
            return .failure(.permanent("HTTP \(status) from \(service)\(said())"))
        case 423:
            let text = reason(from: body)
            return .success(.held(reason: text.isEmpty ? "held by \(service) (HTTP 423, no reason given)" : text))
        case 429, 503:
            let wait = retryAfter.flatMap { Self.retryAfter($0, now: now) }
            let after = wait.map { " (retry after \(NumberText.integer(Int($0.components.seconds))) s)" } ?? ""
            return .failure(.transient("HTTP \(status) from \(service)\(after)\(said())", retryAfter: wait))
        case 408, 425, 500...599:
            return .failure(.transient("HTTP \(status) from \(service)\(said())"))
        case 300...399:
            return .failure(.permanent("HTTP \(status) from \(service): redirects are not followed; give the handler the final URL"))
        case 401, 403:
            return .failure(.permanent("HTTP \(status) from \(service): not allowed; check the handler's credentials\(said())"))
        case 404, 405, 410:
            return .failure(.permanent("HTTP \(status) from \(service): no handover there; check the handler's URL\(said())"))
        default:
            return .failure(.permanent("HTTP \(status) from \(service)\(said())"))
        }
    }

    /// A reason from a body: the `reason` member of a JSON object, else the body as text; control,
    /// bidirectional and line-separating characters become spaces, runs of white space one space,
    /// and the whole is cut to ``maxReasonCharacters``.
    public static func reason(from body: Data) -> String {
        var text: String
        if case .object(let object)? = JSONValue.parse(body), case .string(let given)? = object["reason"] {
            text = given
        } else {
            // A few bytes a character at most: no need to decode more of a large body than is kept.
            text = String(decoding: body.prefix(maxReasonCharacters * 4), as: UTF8.self)
        }
        var cleaned = String.UnicodeScalarView()
        var pendingSpace = false
        var count = 0
        for scalar in text.unicodeScalars {
            if TerminalText.isSteering(scalar) || scalar.properties.isWhitespace {
                pendingSpace = !cleaned.isEmpty
                continue
            }
            if pendingSpace {
                cleaned.append(" ")
                count += 1
                pendingSpace = false
            }
            guard count < maxReasonCharacters else {
                cleaned.append("…")
                break
            }
            cleaned.append(scalar)
            count += 1
        }
        return String(cleaned)
    }

    /// A `Retry-After` value: delay-seconds (digits) or an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`),
    /// as a wait from `now`, between zero and ``maxRetryAfter``; nil when it is neither.
    public static func retryAfter(_ value: String, now: Date) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        let limit = Int(maxRetryAfter.components.seconds)
        if !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
            // Digit by digit, stopping at the limit: no number is too long to read and none traps.
            var seconds = 0
            for digit in text.utf8 {
                seconds = seconds * 10 + Int(digit - 0x30)
                if seconds >= limit { return maxRetryAfter }
            }
            return .seconds(seconds)
        }
        guard let date = httpDate(text) else { return nil }
        let wait = date.timeIntervalSince(now)
        guard wait > 0 else { return .zero }
        return wait >= Double(limit) ? maxRetryAfter : .milliseconds(Int64((wait * 1000).rounded(.up)))
    }

    /// An IMF-fixdate (RFC 9110 §5.6.7), the form every sender must use: `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func httpDate(_ text: String) -> Date? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0].count == 4, parts[0].hasSuffix(","), parts[5] == "GMT",
              parts[1].count == 2, let day = Int(parts[1]), (1...31).contains(day),
              let month = months.firstIndex(of: String(parts[2])),
              parts[3].count == 4, let year = Int(parts[3]), (1900...9999).contains(year)
        else { return nil }
        let clock = parts[4].split(separator: ":", omittingEmptySubsequences: false)
        guard parts[4].count == 8, clock.count == 3, let hour = Int(clock[0]), let minute = Int(clock[1]),
              let second = Int(clock[2]), (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        let days = daysFromCivil(year: year, month: month + 1, day: day)
        return Date(timeIntervalSince1970: Double(days * 86_400 + hour * 3_600 + minute * 60 + second))
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
