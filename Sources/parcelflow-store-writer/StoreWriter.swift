import Foundation
import Logging
import ParcelCore
import ParcelStores

/// A test helper, not a tool for users: takes parcels `PREFIX-0 … PREFIX-(COUNT-1)` through all four
/// stages in the store at LOCATION (sqlite:PATH, postgres://…, or a bare SQLite path), one small
/// transaction per step, as a worker process would. The concurrent-writers test runs two of these on
/// one store at once.
///
///     parcelflow-store-writer LOCATION PREFIX COUNT
///
/// Exits 0 when every step was applied, 1 (with the reason on standard error) otherwise.
@main
enum StoreWriter {
    static func main() async {
        let arguments = CommandLine.arguments.dropFirst()
        guard arguments.count == 3, let count = Int(arguments[arguments.startIndex + 2]), count >= 0 else {
            fail("usage: parcelflow-store-writer LOCATION PREFIX COUNT")
        }
        let given = arguments[arguments.startIndex]
        let prefix = arguments[arguments.startIndex + 1]
        let worker = "\(prefix)/\(ProcessInfo.processInfo.processIdentifier)"
        do {
            let location = given.contains(":") ? try StoreLocation.parse(given) : .sqlite(path: given)
            var logger = Logger(label: "parcelflow-store-writer")
            logger.logLevel = .warning
            let store = try await StatusStores.open(location, logger: logger)
            for index in 0..<count {
                let id = "\(prefix)-\(index)"
                let submitted = try await store.submit([parcel(id)], at: Date())
                guard submitted.created == [id] else { fail("\(id): submit created \(submitted.created)") }
                for (transition, expected) in steps(index) {
                    let outcome = try await store.apply(transition, to: id, worker: worker, at: Date())
                    guard outcome == expected else { fail("\(id): \(transition) was \(outcome), not \(expected)") }
                }
            }
            await store.close()
            print("\(prefix): \(count) parcel(s) delivered")
        } catch {
            fail("\(error)")
        }
    }

    /// Each step and its expected outcome: every stage started and completed, every third parcel
    /// failing its first attempt at packaging. The "queued" a worker records after publishing the next
    /// stage's task is a duplicate: the completion queued it already.
    static func steps(_ index: Int) -> [(Transition, TransitionOutcome)] {
        [(.queued(.collection), .applied)] + Stage.allCases.flatMap { stage -> [(Transition, TransitionOutcome)] in
            var steps: [(Transition, TransitionOutcome)] = stage == .collection ? [] : [(.queued(stage), .duplicate)]
            if stage == .packaging, index % 3 == 0 {
                steps += [(.started(stage, attempt: 1), .applied),
                          (.retrying(stage, attempt: 1, error: "scanner offline"), .applied),
                          (.started(stage, attempt: 2), .applied)]
            } else {
                steps.append((.started(stage, attempt: 1), .applied))
            }
            return steps + [(.completed(stage), .applied)]
        }
    }

    static func parcel(_ id: String) -> Parcel {
        Parcel(id: id, sender: .init(name: "Test Sender", relation: .friend),
               recipient: .init(name: "Test Recipient", facility: "Station 7"),
               contents: .init(letters: 1, drawings: 1), weightGrams: 90, origin: "depot-test")
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("parcelflow-store-writer: \(message)\n".utf8))
        exit(1)
    }
}
