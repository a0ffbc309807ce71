import Foundation
import ParcelCore
import ParcelStoreSQLite
import Testing

/// Erasure and pruning (`parcelctl erase`, `prune`), the same on every store.
@Suite("Status store contract: erasure and pruning")
struct RetentionContractTests {
    /// Delivered `P-1`, held `H`, dead-lettered `D`, and `Q` still queued.
    static func fourParcels(_ store: any StatusStore) async throws {
        _ = try await store.submit([parcel("P-1"), parcel("H"), parcel("D"), parcel("Q")], at: moment(0))
        _ = try await store.applyAll(wholeJourney, to: "P-1", from: 1)
        _ = try await store.applyAll([.queued(.collection), .started(.collection, attempt: 1),
                                      .retrying(.collection, attempt: 1, error: "no van for Ward 3")]
                                     + [.started(.collection, attempt: 2), .completed(.collection)] + through(.packaging)
                                     + [.started(.inspection, attempt: 1), .held(.inspection, reason: "a drawing for Yusuf Haddad in crayon")],
                                     to: "H", from: 20)
        _ = try await store.applyAll([.queued(.collection), .deadLettered(.collection, reason: "Yusuf Haddad unknown at Ward 3")],
                                     to: "D", from: 40)
        _ = try await store.applyAll([.queued(.collection)], to: "Q", from: 50)
    }

    @Test("erase removes a finished parcel's personal data and keeps its anonymous history; one on its way is refused",
          arguments: StoreKind.allCases)
    func erase(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await Self.fourParcels(store)
            let counts = try await store.countsByState()
            let before = try await [store.history("P-1"), store.history("H"), store.history("D")]
            let queued = try await store.record("Q")

            let outcomes = try await store.erase(["P-1", "H", "D", "Q", "X", "H"], at: moment(100))
            #expect(outcomes == ["P-1": .erased, "H": .erased, "D": .erased, "Q": .notFinal(.queued(.collection)), "X": .unknown])

            let held = try #require(try await store.record("H"))
            #expect(held.parcel == nil && held.parcelID == "H" && held.erasedAt == moment(100))
            #expect(held.status == .held(.inspection, reason: Erasure.erasedText) && held.lastError == Erasure.erasedText)
            #expect(held.submittedAt == moment(0) && held.updatedAt == moment(28), "the times stay")
            let dead = try #require(try await store.record("D"))
            #expect(dead.status == .deadLettered(.collection, reason: Erasure.erasedText))
            let delivered = try #require(try await store.record("P-1"))
            #expect(delivered.status == .delivered && delivered.lastError == nil && delivered.parcel == nil)
            // The history keeps every line, its kind, stage, attempt, worker and time; only the words go.
            let after = try await [store.history("P-1"), store.history("H"), store.history("D")]
            #expect(after.map { $0.map(\.detail) } == before.map { $0.map { $0.detail == nil ? nil : Erasure.erasedText } })
            #expect(after.map { $0.map { [$0.kind.rawValue, $0.stage?.rawValue, $0.attempt.map(String.init), $0.worker] } }
                == before.map { $0.map { [$0.kind.rawValue, $0.stage?.rawValue, $0.attempt.map(String.init), $0.worker] } })
            #expect(after.map { $0.map(\.at) } == before.map { $0.map(\.at) })
            #expect(try await store.countsByState() == counts, "counts stay true")
            #expect(try await store.record("Q") == queued, "the parcel on its way is untouched")

            // Again: nothing changes, and it says since when.
            #expect(try await store.erase(["H"], at: moment(200)) == ["H": .alreadyErased(moment(100))])
            // Submitting the id again creates nothing and is no conflict (there is nothing left to compare).
            let again = try await store.submit([parcel("H")], at: moment(300))
            #expect(again.created.isEmpty && again.conflicting.isEmpty && again.existing["H"] == .held(.inspection, reason: Erasure.erasedText))
            // A stray copy of its task is checked as the parcel it is: final, so a worker runs nothing.
            #expect(try await store.check([parcel("P-1")])["P-1"] == ParcelCheck(progress: delivered.progress, sameParcel: true))
        }
    }

    @Test("prune removes finished parcels older than the date with their history, in batches; none on its way, however old",
          arguments: StoreKind.allCases)
    func prune(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await Self.fourParcels(store) // P-1 final at 9, H at 28, D at 41, Q on its way since 50
            _ = try await store.submit([parcel("NEW")], at: moment(60))
            _ = try await store.applyAll(wholeJourney, to: "NEW", from: 61) // final at 69

            #expect(try await store.prune(finishedBefore: moment(9), limit: 10) == 0, "strictly before the date")
            #expect(try await store.prune(finishedBefore: moment(65), limit: 2) == 2)
            #expect(try await store.prune(finishedBefore: moment(65), limit: 2) == 1)
            #expect(try await store.prune(finishedBefore: moment(65), limit: 2) == 0)
            for id in ["P-1", "H", "D"] {
                #expect(try await store.record(id) == nil)
                #expect(try await store.history(id).isEmpty)
            }
            #expect(try await store.record("Q")?.status == .queued(.collection))
            #expect(try await store.record("NEW")?.status == .delivered)
            #expect(try await store.countsByState() == [.queued: 1, .delivered: 1])
            #expect(try await store.history("NEW").count == 10)
            #expect(try await store.audit(idPrefix: nil).appliedTwice.isEmpty)
        }
    }
}
