import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore

struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove parcels that finished before a date, with their history, from the status store.",
        discussion: """
            Finished means delivered, held, dead-lettered or returned; a parcel on its way is never removed, \
            however old. Pruned parcels no longer count in reports. Removes them in batches, so that \
            workers writing to the same store wait for one batch at most.
            """)

    @OptionGroup var store: StoreOptions

    @Option(help: ArgumentHelp("Remove parcels that finished before this: 2026-11-01 (midnight UTC) or a full time "
                               + "such as 2026-11-01T12:00:00Z.", valueName: "date"))
    var finishedBefore: String

    @Option(help: ArgumentHelp("Parcels removed per transaction.", valueName: "count"))
    var batchSize = 1_000

    func validate() throws {
        guard (1...100_000).contains(batchSize) else { throw ValidationError("--batch-size must be from 1 to 100,000") }
        _ = try cutoff()
    }

    func cutoff() throws -> Date {
        if let date = Timestamp.parse(finishedBefore) ?? Timestamp.parse(finishedBefore + "T00:00:00Z") { return date }
        throw ValidationError("--finished-before: expected a date such as 2026-11-01 or 2026-11-01T12:00:00Z, "
            + "got '\(Terminal.value(finishedBefore))'")
    }

    func run() async throws {
        let cutoff = try cutoff()
        let store = try await self.store.open()
        var removed = 0
        var batches = 0
        while case let count = try await store.prune(finishedBefore: cutoff, limit: batchSize), count > 0 {
            removed += count
            batches += 1
            // Progress on a long prune, for a person watching (not in piped output).
            if batches % 10 == 0, Terminal.standardErrorIsTerminal { Terminal.error("removed \(Terminal.count(removed)) so far…") }
        }
        Terminal.print("Removed \(Terminal.plural(removed, "parcel")) that finished before \(Timestamp.format(cutoff)), with their history.")
    }
}
