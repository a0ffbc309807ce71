import Foundation
import ParcelBench
import ParcelCore
import Testing

/// `parcelctl bench store` measures a store without spoiling it.
@Suite("Store benchmark")
struct StoreBenchmarkTests {
    @Test("a round takes every parcel to delivered and leaves the store empty; a store holding other parcels is refused",
          arguments: [StoreKind.sqlite, .postgres])
    func benchmark(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var options = StoreBenchmark.Options()
            options.parcels = 100
            options.batch = 16
            options.rounds = 2
            let report = try await StoreBenchmark(options: options).run(store: store, storeName: "\(kind)")
            #expect(report.rounds.count == 2)
            #expect(report.applyMicroseconds > 0 && report.checkMicroseconds > 0 && report.submitMicroseconds > 0)
            #expect(try await store.countsByState().isEmpty, "the benchmark left parcels behind")

            _ = try await store.submit([parcel("P-keep")], at: Date())
            await #expect(throws: StoreBenchmark.Failure.self) {
                _ = try await StoreBenchmark(options: options).run(store: store, storeName: "\(kind)")
            }
            #expect(try await store.record("P-keep") != nil, "a parcel not the benchmark's was touched")
        }
    }
}
