import AMQP
import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore
import ParcelRabbit

struct EraseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract: "Remove finished parcels' personal data from the status store and the dead letters.",
        discussion: """
            The names, the relation, the facility, and every reason or error that might quote them are \
            removed; the anonymous rest stays (state, stages, attempts, times), so every count and \
            report stays true. Only finished parcels (delivered, held, dead-lettered, returned) can be erased: one \
            on its way still needs its recipient. If any id is unknown or not finished, nothing is \
            erased. Erasing again is harmless, and finishes what an interrupted run left (the dead \
            letters are done after the store).
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup(visibility: .hidden) var topologyOptions: TopologyOptions

    @Argument(help: ArgumentHelp("The parcels' ids.", valueName: "id"))
    var parcelIDs: [String]

    func validate() throws {
        guard !parcelIDs.isEmpty else { throw ValidationError("give the id of at least one parcel to erase") }
    }

    func run() async throws {
        let ids = parcelIDs.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let store = try await self.store.open()
        // All or nothing: check every parcel before erasing any.
        var refused: [String] = []
        for id in ids {
            guard let record = try await store.record(id) else {
                refused.append("\(Terminal.value(id)): no parcel has this id")
                continue
            }
            if !record.status.isFinal {
                refused.append("\(Terminal.value(id)): still on its way (\(Terminal.value(record.status.description))); "
                    + "erase it once it is delivered, held, dead-lettered or returned")
            }
        }
        guard refused.isEmpty else {
            for line in refused { Terminal.error(line) }
            throw CommandFailure("nothing was erased: \(Terminal.plural(refused.count, "parcel")) of \(Terminal.count(ids.count)) cannot be")
        }
        let outcomes = try await store.erase(ids, at: Date())
        let erasedNow = ids.filter { outcomes[$0] == .erased }
        let before = ids.filter { if case .alreadyErased = outcomes[$0] { true } else { false } }
        Terminal.print("Erased the personal data of \(Terminal.plural(erasedNow.count, "parcel")) in the status store"
            + (before.isEmpty ? "." : " (\(Terminal.count(before.count)) had been erased before)."))
        let topology = try topologyOptions.topology()
        let letters: Int
        do {
            letters = try await broker.withConnection(name: "parcelctl erase") { connection in
                try await DeadLetterQueue(connection: connection, topology: topology).erase(parcelIDs: Set(erasedNow + before))
            }
        } catch {
            throw CommandFailure("the dead letters were not erased: \(Terminal.value("\(error)")); run the same command again")
        }
        Terminal.print("Erased \(Terminal.plural(letters, "dead letter")) of these parcels in \(topology.deadQueue).")
    }
}
