import AMQP
import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore
import ParcelRabbit

struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Send held parcels on: each goes to the stage after the one that held it.",
        discussion: """
            Every id is checked first: if one is unknown, or its parcel is not held (and was not \
            released before), nothing is done to any. Each held parcel is recorded as released — the \
            OS user and the note go into its history — and its task for the next stage is published \
            with a broker confirm. A parcel held at delivery, the last stage, is queued for delivery \
            again (from attempt 1). Releasing again is harmless: a parcel released before that still \
            waits at that stage has its task published again, which also heals a release interrupted \
            between recording and publishing.

            Exit status: 0 every parcel released (now or before); 2 refused, nothing changed; 3 some \
            task not confirmed by the broker (run the same command again); 1 the store or broker \
            failed; 64 a usage error.

            Examples:
              parcelctl holds
              parcelctl release P-2026-000123 --note "checked by hand: the drawing is fine"
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup(visibility: .hidden) var topologyOptions: TopologyOptions

    @Argument(help: ArgumentHelp("The held parcels' ids.", valueName: "id"))
    var ids: [String] = []

    @Option(help: ArgumentHelp("Why, for the parcel's history: one line, at most 500 characters.", valueName: "text"))
    var note: String?

    func validate() throws {
        try ReviewOutput.validateIDs(ids, verb: "release")
        if let note { _ = try ReviewOutput.checked(note, option: "--note") }
    }

    func run() async throws {
        let note = try self.note.map { try ReviewOutput.checked($0, option: "--note") }
        let reviewer = ReviewOutput.reviewer()
        let topology = try topologyOptions.topology()
        let ids = self.ids
        let store = self.store
        // The broker first: if it cannot be reached, the store is left untouched.
        let report = try await broker.withConnection(name: "parcelctl release") { connection in
            let channel = try await connection.openChannel()
            do {
                try await channel.checkExchange(topology.tasksExchange)
                try await channel.enableConfirms()
                let opened = try await store.open()
                let report = try await HoldReviewer(store: opened).release(ids, note: note, reviewer: reviewer, publisher: channel,
                                                                          topology: topology)
                await opened.close()
                await channel.close()
                return report
            } catch {
                await channel.close()
                throw error
            }
        }
        try ReviewOutput.explain(report, verb: "released")
    }
}
