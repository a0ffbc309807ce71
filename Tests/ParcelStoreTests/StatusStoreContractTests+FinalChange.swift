import Foundation
import ParcelCore
import Testing

/// The status store contract, continued: what the load test reads (issue 17). Its poll, the parcels
/// that became final since a cursor, from the history lines written after it (a poll that counted every
/// parcel of the run cost parcelctl a fifth of a core on a long run); an open-loop run's histories, read
/// a chunk of parcels at a time.
extension StatusStoreContractTests {
    @Test("finalChange counts the parcels that became final after its cursor, of a prefix, less releases and replays",
          arguments: StoreKind.allCases)
    func finalChangeSinceCursor(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let empty = try await store.finalChange(after: 0, idPrefix: nil)
            #expect(empty.change == 0)
            _ = try await store.submit(["R-1", "R-2", "R-3", "R-4", "OTHER-1"].map { parcel($0) }, at: moment(0))
            let start = try await store.finalChange(after: empty.cursor, idPrefix: "R-")
            #expect(start.change == 0 && start.cursor >= empty.cursor)

            // Delivered, held, dead-lettered: three final; another prefix's delivery is not counted.
            var n = try await store.applyAll(wholeJourney, to: "R-1", from: 1)
            n = try await store.applyAll(wholeJourney, to: "OTHER-1", from: n)
            n = try await store.applyAll([.queued(.collection), .started(.collection, attempt: 1), .held(.collection, reason: "x-ray")],
                                         to: "R-2", from: n)
            n = try await store.applyAll([.queued(.collection), .started(.collection, attempt: 1),
                                          .deadLettered(.collection, reason: "torn")], to: "R-3", from: n)
            n = try await store.applyAll([.queued(.collection), .started(.collection, attempt: 1)], to: "R-4", from: n)
            let first = try await store.finalChange(after: start.cursor, idPrefix: "R-")
            #expect(first.change == 3 && first.cursor > start.cursor)
            #expect(try await store.finalChange(after: start.cursor, idPrefix: nil).change == 4)
            // Nothing new: nothing counted, the cursor stays.
            #expect(try await store.finalChange(after: first.cursor, idPrefix: "R-") == FinalChange(cursor: first.cursor, change: 0))

            // A release and a replay take two out again; a return moves a held parcel between final states.
            n = try await store.applyAll([.released(.collection, note: "fine")], to: "R-2", from: n)
            n = try await store.applyAll([.replayed(.collection)], to: "R-3", from: n)
            let second = try await store.finalChange(after: first.cursor, idPrefix: "R-")
            #expect(second.change == -2)
            n = try await store.applyAll([.started(.packaging, attempt: 1), .held(.packaging, reason: "again")], to: "R-2", from: n)
            _ = try await store.applyAll([.returned(.packaging, reason: "refused")], to: "R-2", from: n)
            let third = try await store.finalChange(after: second.cursor, idPrefix: "R-")
            #expect(third.change == 1)

            // From the start, the changes add up to the parcels in a final state.
            let final = ParcelStatus.State.finalCount(try await store.countsByState(idPrefix: "R-"))
            #expect(try await store.finalChange(after: 0, idPrefix: "R-").change == final)
            #expect(first.change + second.change + third.change == final)
        }
    }

    @Test("histories reads many parcels' histories at once, each as history reads it; a parcel the store does not know is absent",
          arguments: StoreKind.allCases)
    func historiesAtOnce(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("H-1"), parcel("H-2"), parcel("H-3")], at: moment(0))
            var n = try await store.applyAll(wholeJourney, to: "H-1", from: 1)
            n = try await store.applyAll([.queued(.collection), .started(.collection, attempt: 1),
                                          .retrying(.collection, attempt: 1, error: "jam")], to: "H-2", from: n)
            let histories = try await store.histories(["H-2", "nobody", "H-1", "H-3", "H-1"])
            #expect(Set(histories.keys) == ["H-1", "H-2", "H-3"])
            for id in ["H-1", "H-2", "H-3"] {
                #expect(histories[id] == (try await store.history(id)), "\(id)")
            }
            #expect(histories["H-1"]?.count == 1 + wholeJourney.count)
            #expect(try await store.histories([]).isEmpty)
        }
    }
}
