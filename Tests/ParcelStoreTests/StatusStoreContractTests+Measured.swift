import Foundation
import ParcelCore
import Testing

/// The status store contract, continued: every parcel that passed a stage has that stage's latency
/// (issue 17: a worker faster than the broker's confirm left collection without a start).
extension StatusStoreContractTests {
    @Test("a worker that completes collection before the submitter records \"queued\": collection still has its start, from the submit",
          arguments: StoreKind.allCases)
    func collectionBeforeQueued(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("P-fast"), parcel("P-usual")], at: moment(0))
            // The race, in the order it happens: the worker takes the task as soon as it is published
            // and settles it before the submitter's "queued" (sent after the broker's confirm) lands.
            try await store.applyAll(through(.collection), to: "P-fast", from: 1)
            #expect(try await store.apply(.queued(.collection), to: "P-fast", at: moment(3)) == .duplicate)
            #expect(try await store.history("P-fast").map(\.kind) == [.submitted, .started, .completed])
            // The usual order: queued, then the worker.
            try await store.applyAll([.queued(.collection)] + through(.collection), to: "P-usual", from: 1)

            let snapshot = try await store.snapshot(period: DateInterval(start: moment(0), end: moment(60)),
                                                    recentSince: moment(0))
            // Both from the submit at 0: P-fast completed at 2, P-usual at 3.
            #expect(snapshot.stageLatencies[.collection]?.sorted() == [2_000, 3_000])
            let audit = try await store.audit(idPrefix: "P-")
            #expect(audit.passed == [.collection: 2])
            #expect(audit.passed[.collection] == snapshot.stageLatencies[.collection]?.count)
        }
    }
}
