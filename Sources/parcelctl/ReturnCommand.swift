import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore
import ParcelRabbit

struct ReturnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "return",
        abstract: "End held parcels as returned to their senders, with the reason.",
        discussion: """
            Every id is checked first: if one is unknown, or its parcel is not held (and was not \
            returned before), nothing is done to any. Each held parcel becomes returned, a final \
            state (the report, summary, metrics and dashboard count it); the OS user and the reason go \
            into its history. Returning again is harmless. Nothing is published.

            Exit status: 0 every parcel returned (now or before); 2 refused, nothing changed; 3 a \
            parcel changed while the command ran (run it again); 1 the store failed; 64 a usage error.

            Example:
              parcelctl return P-2026-000123 --reason "batteries may not be sent; the sender was told"
            """)

    @OptionGroup var store: StoreOptions

    @Argument(help: ArgumentHelp("The held parcels' ids.", valueName: "id"))
    var ids: [String] = []

    @Option(help: ArgumentHelp("Why, for the parcel's history and status: one line, at most 500 characters.",
                               valueName: "text"))
    var reason: String

    func validate() throws {
        try ReviewOutput.validateIDs(ids, verb: "return")
        _ = try ReviewOutput.checked(reason, option: "--reason")
    }

    func run() async throws {
        let reason = try ReviewOutput.checked(self.reason, option: "--reason")
        let store = try await self.store.open()
        let report = try await HoldReviewer(store: store).returnToSender(ids, reason: reason, reviewer: ReviewOutput.reviewer())
        await store.close()
        try ReviewOutput.explain(report, verb: "returned")
    }
}
