import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore

struct HoldsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "holds",
        abstract: "List the parcels held for review: where, why, and since when.",
        discussion: """
            A stage's handler holds a parcel it must not send on by itself: inspection's rules, a \
            carrier that answered 423. A held parcel waits for a person: `parcelctl release ID…` sends \
            it on, `parcelctl return ID… --reason TEXT` returns it to its sender. The longest held come \
            first. The reasons come from rules files and carriers, so they are printed escaped.
            """)

    @OptionGroup var store: StoreOptions

    @Option(help: ArgumentHelp("List at most this many, the longest held first (1 to 10,000).", valueName: "count"))
    var limit = 50

    @Flag(help: "Print one JSON object: the count of held parcels and the listed ones.")
    var json = false

    func validate() throws {
        guard (1...HoldListing.maxLimit).contains(limit) else {
            throw ValidationError("--limit must be from 1 to \(Terminal.count(HoldListing.maxLimit))")
        }
    }

    func run() async throws {
        let store = try await self.store.open()
        let listing = try await store.holds(limit: limit)
        await store.close()
        if json {
            Terminal.print(Self.json(listing))
            return
        }
        guard !listing.holds.isEmpty else {
            Terminal.print("No parcel is held for review.")
            return
        }
        let shown = listing.holds.count < listing.total ? " (showing the \(Terminal.count(listing.holds.count)) held longest)" : ""
        Terminal.print("\(Terminal.plural(listing.total, "parcel")) held for review\(shown):")
        Terminal.print(Self.table(listing.holds))
        Terminal.print("Send one on with `parcelctl release ID… [--note TEXT]`; "
            + "return it to its sender with `parcelctl return ID… --reason TEXT`.")
    }

    /// One line per hold, the columns aligned; ids and reasons escaped.
    static func table(_ holds: [HoldListing.Hold]) -> String {
        let ids = holds.map { Terminal.value($0.parcelID) }
        let width = max(6, ids.map(\.count).max() ?? 0)
        var lines = ["  " + "parcel".padding(toLength: width, withPad: " ", startingAt: 0) + "  stage       held since            reason"]
        for (hold, id) in zip(holds, ids) {
            lines.append("  " + id.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + hold.stage.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + "  "
                + DeliveryReport.time(hold.since) + "  " + Terminal.value(hold.reason))
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ listing: HoldListing) -> JSONValue {
        .object([
            "count": .int(listing.total),
            "holds": .array(listing.holds.map { hold in
                .object(["parcel_id": .string(hold.parcelID), "stage": .string(hold.stage.rawValue),
                         "reason": .string(hold.reason), "held_since": .string(Timestamp.format(hold.since))])
            }),
        ])
    }
}
