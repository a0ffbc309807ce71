import Foundation
import ParcelCore
import Synchronization

/// A closed-loop run for a time (`loadtest --duration` without `--rate`): batch after batch submitted
/// whenever the backlog (parcels submitted and not yet final) is under ``backlog``, until the time is up;
/// then the run drains. The bound keeps every worker busy without the queues growing for the whole run,
/// so the last interval measures the pipeline, not a backlog piled up at the start.
final class SoakFeed: Sendable {
    let length: Duration
    let idPrefix: String
    let backlog: Int
    let batch = 500
    private let finals = Atomic<Int>(0)

    init(length: Duration, idPrefix: String, backlog: Int) {
        self.length = length
        self.idPrefix = idPrefix
        self.backlog = backlog
    }

    /// Enough for every worker's tasks in flight several times over (4 stages), and a few seconds' work.
    static func backlog(_ configuration: LoadTest.Configuration) -> Int {
        max(2_000, 4 * max(1, configuration.workers) * configuration.concurrency)
    }

    /// The run's parcels final so far, as the run's poll read them.
    func noteFinal(_ count: Int) { finals.store(count, ordering: .relaxed) }

    /// Submits batches through `submit` (the batch, and the parcels confirmed before it) until the time
    /// is up; returns every parcel submitted, and sets `progress`'s total. Batch n's ids are
    /// PREFIX-Bnnnnn-000001…: the run's prefix, unique.
    func run(_ progress: Submitted, submit: @Sendable ([Parcel], Int) async throws -> Void) async throws -> [Parcel] {
        let end = ContinuousClock.now + length
        var parcels: [Parcel] = []
        defer { progress.setTotal(parcels.count) }
        while ContinuousClock.now < end {
            if parcels.count - finals.load(ordering: .relaxed) >= backlog {
                try await Task.sleep(for: .milliseconds(20))
                continue
            }
            let number = String(parcels.count / batch + 1)
            let prefix = "\(idPrefix)-B" + String(repeating: "0", count: max(0, 5 - number.count)) + number
            let next = ParcelGenerator(seed: .random(in: 0...UInt64.max), idPrefix: prefix).parcels(batch)
            try await submit(next, parcels.count)
            parcels += next
        }
        return parcels
    }
}
