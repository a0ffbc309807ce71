import Foundation
import ParcelCore
import Testing

/// StatusStoreContractTests, continued: a parcel's declared items are kept with it, and a task whose
/// parcel declares other items (a blocked one dropped, one added) is not the parcel submitted.
extension StatusStoreContractTests {
    @Test("declared items are stored with the parcel and read back; a copy with other items is not the same parcel",
          arguments: StoreKind.allCases)
    func declaredItems(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var declared = parcel("P-1")
            declared.contents.items = ["chocolate", "Batteries", "Knitted \"lucky\" socks 🧦"]
            let plain = parcel("P-2")
            _ = try await store.submit([declared, plain], at: moment(0))
            #expect(try await store.record("P-1")?.parcel == declared)
            #expect(try await store.record("P-2")?.parcel?.contents.items == [])
            #expect(try await store.check([declared, plain]).mapValues(\.sameParcel) == ["P-1": true, "P-2": true])

            var dropped = declared
            dropped.contents.items = ["chocolate", "Knitted \"lucky\" socks 🧦"]
            var none = declared
            none.contents.items = []
            var reordered = declared
            reordered.contents.items.reverse()
            var added = plain
            added.contents.items = ["photo"]
            for forged in [dropped, none, reordered, added] {
                #expect(try await store.check([forged])[forged.id]?.sameParcel == false, "\(forged.contents.items)")
            }
            // A re-submit with other items is a conflict, and the stored items win.
            let outcome = try await store.submit([dropped], at: moment(5))
            #expect(outcome.conflicting == ["P-1"])
            #expect(try await store.record("P-1")?.parcel == declared)
        }
    }
}
