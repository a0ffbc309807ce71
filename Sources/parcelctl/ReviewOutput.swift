import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ParcelCore
import ParcelRabbit

/// What `release` and `return` share: who the reviewer is, the checked note, one line per id, and
/// the exit status.
///
/// Exit status: 0 when every id is done (now or before); 2 when the batch was refused (an id unknown
/// or not held) and nothing changed; 3 when a release was recorded but the broker did not confirm
/// some parcel's task, or a parcel changed while the command ran (run the same command again);
/// 1 when the store or the broker failed; 64 for a usage error (such as a note with a control
/// character), with nothing changed.
enum ReviewOutput {
    static let refusedStatus: Int32 = 2
    static let incompleteStatus: Int32 = 3

    /// The OS user running the command (`getpwuid(geteuid())`, else `$USER`), for the history.
    static func reviewer() -> String {
        let uid = geteuid()
        var accountName: String?
        if let entry = getpwuid(uid), let name = entry.pointee.pw_name { accountName = String(cString: name) }
        return ReviewText.reviewer(accountName: accountName, environmentUser: ProcessInfo.processInfo.environment["USER"],
                                   userID: uid)
    }

    /// `text` checked for the history, or a usage error naming the option.
    static func checked(_ text: String, option: String) throws -> String {
        switch ReviewText.checked(text, field: option) {
        case .success(let checked): return checked
        case .failure(let refusal): throw ValidationError(refusal.description)
        }
    }

    static func validateIDs(_ ids: [String], verb: String) throws {
        guard !ids.isEmpty else { throw ValidationError("give the id of at least one held parcel to \(verb)") }
        guard ids.count <= 10_000 else { throw ValidationError("at most 10,000 ids at once; got \(Terminal.count(ids.count))") }
    }

    /// Prints one line per id (refusals on standard error) and a summary; throws the exit status
    /// when not every id is done.
    static func explain(_ report: HoldReviewer.Report, verb: String) throws {
        let v = Terminal.value
        for (id, result) in report.results {
            switch result {
            case .released(let from, let to):
                Terminal.print("Released \(v(id)) (held at \(from)): queued for \(to)"
                    + (from == to ? " again." : ".") + " The broker confirmed its task.")
            case .alreadyReleased(let from, let to, let republished, let now):
                Terminal.print("Already released \(v(id)) (held at \(from)): "
                    + (republished ? "still queued for \(to); its task was published again (harmless if it was there)."
                                   : "it is \(v(now.description)) now."))
            case .returned(let from):
                Terminal.print("Returned \(v(id)) (held at \(from)) to its sender.")
            case .alreadyReturned(let from):
                Terminal.print("Already returned \(v(id)) (held at \(from)) to its sender.")
            case .notPublished(let from, let to, let error):
                Terminal.error("Not sent on: \(v(id)) (held at \(from)) is recorded as released, but the broker did not "
                    + "confirm its \(to) task (\(v(error))); run the same release again")
            case .refused(let why):
                Terminal.error("Refused \(v(id)): \(v(why))")
            case .untouched:
                Terminal.error("Not done \(v(id)): the batch was refused, so it was left as it is")
            }
        }
        if report.batchRefused {
            let refused = report.results.filter { if case .refused = $0.result { true } else { false } }.count
            Terminal.error("Nothing was \(verb): \(Terminal.plural(refused, "id")) of \(Terminal.count(report.results.count)) "
                + "cannot be (unknown, or not held); the batch is all or nothing.")
            throw ExitCode(refusedStatus)
        }
        guard report.succeeded else {
            Terminal.error("Not every parcel was \(verb); run the same command again to finish (it is safe to repeat).")
            throw ExitCode(incompleteStatus)
        }
    }
}
