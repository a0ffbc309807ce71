import Foundation
import ParcelCore
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// The review of held parcels (`Transition.released`, `.returned`, ``StatusStore/holds(limit:)``),
/// against every store.
@Suite("Status store contract: reviewing held parcels")
struct HoldReviewContractTests {
    /// "A" held at inspection, "B" held at delivery, "C" held at packaging (the longest held), "Q"
    /// on its way. Returns the moment after the last hold.
    @discardableResult
    static func holds(_ store: any StatusStore) async throws -> Int {
        _ = try await store.submit([parcel("A"), parcel("B"), parcel("C"), parcel("Q")], at: moment(0))
        try await store.applyAll([.queued(.collection)] + through(.collection) + [.started(.packaging, attempt: 1),
                                  .held(.packaging, reason: "box\u{1B}[2J torn")], to: "C", from: 1)
        try await store.applyAll([.queued(.collection)] + through(.collection) + through(.packaging)
                                 + [.started(.inspection, attempt: 1), .held(.inspection, reason: "a battery inside")],
                                 to: "A", from: 10)
        try await store.applyAll([.queued(.collection)] + through(.collection) + through(.packaging) + through(.inspection)
                                 + [.started(.delivery, attempt: 2), .held(.delivery, reason: "carrier: recipient moved")],
                                 to: "B", from: 20)
        try await store.applyAll([.queued(.collection)], to: "Q", from: 40)
        return 41
    }

    @Test("any stage holds; holds lists them longest held first, bounded, with stage, reason and since when",
          arguments: StoreKind.allCases)
    func listing(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await Self.holds(store)
            #expect(try await store.record("B")?.status == .held(.delivery, reason: "carrier: recipient moved"))
            #expect(try await store.history("C").last == ParcelEvent(parcelID: "C", kind: .held, stage: .packaging,
                                                                     detail: "box\u{1B}[2J torn", worker: "test-worker", at: moment(5)))
            let all = try await store.holds(limit: 10)
            #expect(all == HoldListing(total: 3, holds: [
                .init(parcelID: "C", stage: .packaging, reason: "box\u{1B}[2J torn", since: moment(5)),
                .init(parcelID: "A", stage: .inspection, reason: "a battery inside", since: moment(16)),
                .init(parcelID: "B", stage: .delivery, reason: "carrier: recipient moved", since: moment(28)),
            ]))
            #expect(try await store.holds(limit: 1) == HoldListing(total: 3, holds: Array(all.holds.prefix(1))))
            #expect(try await store.holds(limit: 0) == HoldListing(total: 3, holds: []))
            #expect(try await store.holds(limit: -5) == HoldListing(total: 3, holds: []))
        }
    }

    @Test("release: held at a stage goes on to the next (delivery: delivery again); a repeat is a duplicate",
          arguments: StoreKind.allCases)
    func release(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let next = try await Self.holds(store)
            #expect(try await store.apply(.released(.inspection, note: "checked: a toy's battery"), to: "A",
                                          worker: "amina", at: moment(next)) == .applied)
            let a = try #require(try await store.record("A"))
            #expect(a.progress == ParcelProgress(status: .queued(.delivery), stagesDone: 3, attempts: 0))
            #expect(!a.status.isFinal && a.updatedAt == moment(next))
            #expect(try await store.history("A").last == ParcelEvent(parcelID: "A", kind: .released, stage: .inspection,
                                                                     detail: "checked: a toy's battery", worker: "amina",
                                                                     at: moment(next)))
            #expect(try await store.apply(.released(.delivery, note: nil), to: "B", worker: "amina", at: moment(next + 1)) == .applied)
            #expect(try await store.record("B")?.progress == ParcelProgress(status: .queued(.delivery), stagesDone: 3, attempts: 0))
            #expect(try await store.history("B").last?.detail == nil)

            // Repeats change nothing; neither does a release of a parcel not held.
            let events = try await ["A": store.history("A").count, "B": store.history("B").count, "Q": store.history("Q").count]
            #expect(try await store.apply([
                StatusChange("A", .released(.inspection, note: "again"), worker: "amina", at: moment(next + 2)),
                StatusChange("B", .released(.delivery, note: "again"), worker: "amina", at: moment(next + 2)),
                StatusChange("Q", .released(.collection, note: "not held"), worker: "amina", at: moment(next + 2)),
                StatusChange("Z", .released(.collection, note: nil), worker: "amina", at: moment(next + 2)),
            ]) == [.duplicate, .duplicate, .stale, .unknownParcel])
            #expect(try await ["A": store.history("A").count, "B": store.history("B").count, "Q": store.history("Q").count] == events)
            #expect(try await store.record("Q")?.status == .queued(.collection))

            // The released parcel goes on as any other.
            try await store.applyAll(through(.delivery), to: "A", from: next + 3)
            #expect(try await store.record("A")?.status == .delivered)
            #expect(try await store.holds(limit: 10).holds.map(\.parcelID) == ["C"])
        }
    }

    @Test("return: held becomes returned, final, with the reason; a repeat is a duplicate; not held is refused",
          arguments: StoreKind.allCases)
    func returnToSender(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let next = try await Self.holds(store)
            #expect(try await store.apply(.returned(.packaging, reason: "sender asked for it back"), to: "C",
                                          worker: "yusuf", at: moment(next)) == .applied)
            let c = try #require(try await store.record("C"))
            #expect(c.status == .returned(.packaging, reason: "sender asked for it back"))
            #expect(c.status.isFinal && c.lastError == "sender asked for it back" && c.progress.stagesDone == 1)
            #expect(try await store.history("C").last == ParcelEvent(parcelID: "C", kind: .returned, stage: .packaging,
                                                                     detail: "sender asked for it back", worker: "yusuf",
                                                                     at: moment(next)))
            #expect(try await store.apply([
                StatusChange("C", .returned(.packaging, reason: "again"), worker: "yusuf", at: moment(next + 1)),
                StatusChange("C", .released(.packaging, note: "changed my mind"), worker: "yusuf", at: moment(next + 1)),
                StatusChange("C", .completed(.packaging), worker: "w", at: moment(next + 1)),
                StatusChange("Q", .returned(.collection, reason: "not held"), worker: "yusuf", at: moment(next + 1)),
                StatusChange("A", .returned(.delivery, reason: "wrong stage"), worker: "yusuf", at: moment(next + 1)),
            ]) == [.duplicate, .stale, .stale, .stale, .stale])
            #expect(try await store.record("C")?.status == .returned(.packaging, reason: "sender asked for it back"))
            #expect(try await store.history("C").map(\.kind) == [.submitted, .queued, .started, .completed, .started, .held, .returned])

            // Returned is final everywhere: counted, audited, erasable and pruned as such.
            #expect(try await store.countsByState()[.returned] == 1)
            #expect(ParcelStatus.State.finalCount(try await store.countsByState()) == 3)
            #expect(try await store.audit(idPrefix: "C").lastFinalAt == moment(next))
            #expect(try await store.returnedCount(in: DateInterval(start: moment(next), end: moment(next + 1))) == 1)
            #expect(try await store.returnedCount(in: DateInterval(start: moment(0), end: moment(next))) == 0)
            #expect(try await store.holds(limit: 10).total == 2)
            let snapshot = try await store.snapshot(period: DateInterval(start: moment(0), end: moment(100)), recentSince: moment(0))
            #expect(snapshot.groups.contains { $0.state == .returned && $0.stage == .packaging && $0.count == 1 })
            #expect(!snapshot.attention.contains { $0.parcelID == "C" }, "a returned parcel needs no attention")
            #expect(try await store.erase(["C"], at: moment(next + 2)) == ["C": .erased])
            #expect(try await store.record("C")?.status == .returned(.packaging, reason: Erasure.erasedText))
            // C returned, A and B held: all final before then; Q is on its way.
            #expect(try await store.prune(finishedBefore: moment(next + 1), limit: 10) == 3)
            #expect(try await store.record("C") == nil)
            #expect(try await store.history("C").isEmpty)
            #expect(try await store.record("Q")?.status == .queued(.collection))
        }
    }
}
