import Foundation
import Logging
import ParcelCore
import ParcelStorePostgres
import ParcelTestSupport
import Testing

/// Two workers on two machines settling the same tasks at the same moment: each with a store (and
/// a connection pool) of its own on one database. Every stage must be applied once.
@Suite("PostgreSQL store: racing writers", .enabled(if: LocalPostgres.url != nil, "PARCELFLOW_TEST_POSTGRES_URL is not set"))
struct PostgresRaceTests {
    static let parcels = 120
    static let batch = 16

    @Test("two stores settle the same tasks at once: each stage applied exactly once, one of them told it was first")
    func sameTasksAtOnce() async throws {
        let database = try await TestDatabase.create()
        let settings = try PostgresSettings.parse(database.url.string!, environment: [:])
        let machines = [try await PostgresStatusStore.open(settings, logger: Logger(label: "machine-a")),
                        try await PostgresStatusStore.open(settings, logger: Logger(label: "machine-b"))]
        let ids = (0..<Self.parcels).map { "RACE-\($0)" }
        _ = try await machines[0].submit(ids.map { parcel($0) }, at: Date())
        _ = try await machines[0].apply(.queued(.collection), to: ids, worker: nil, at: Date())

        for stage in Stage.allCases {
            // Both take every task of the stage, in batches, in opposite orders: their batches overlap
            // in every way, and lock the same rows from both ends.
            let applied = try await withThrowingTaskGroup(of: [String: Int].self) { group in
                for (index, store) in machines.enumerated() {
                    let order = index == 0 ? ids : ids.reversed()
                    group.addTask {
                        var completedHere: [String: Int] = [:]
                        for chunk in stride(from: 0, to: order.count, by: Self.batch).map({ Array(order[$0..<min($0 + Self.batch, order.count)]) }) {
                            let changes = chunk.flatMap { id in
                                [StatusChange(id, .started(stage, attempt: 1), worker: "machine-\(index)"),
                                 StatusChange(id, .completed(stage), worker: "machine-\(index)")]
                            }
                            let outcomes = try await store.apply(changes)
                            for (position, id) in chunk.enumerated() where outcomes[2 * position + 1] == .applied {
                                completedHere[id, default: 0] += 1
                            }
                        }
                        return completedHere
                    }
                }
                return try await group.reduce(into: [String: Int]()) { total, one in total.merge(one, uniquingKeysWith: +) }
            }
            // Exactly one of the two was told "applied" for each parcel's completion.
            #expect(applied.count == ids.count && applied.values.allSatisfy { $0 == 1 }, "\(stage): \(applied.filter { $0.value != 1 })")
        }

        let audit = try await machines[1].audit(idPrefix: "RACE-")
        #expect(audit.appliedTwice.isEmpty, "\(audit.appliedTwice)")
        #expect(audit.counts == [.delivered: ids.count])
        for id in ids.prefix(10) {
            let kinds = try await machines[0].history(id).map(\.kind)
            #expect(kinds.filter { $0 == .completed || $0 == .delivered }.count == Stage.allCases.count, "\(id): \(kinds)")
        }
        // They did meet: some batches found a row changed by the other after reading it.
        let recomputed = machines.map(\.recomputed).reduce(0, +)
        #expect(recomputed > 0, "the two stores never wrote the same parcels at once: nothing was raced")
        for store in machines { await store.close() }
        try await database.drop()
    }

    @Test("what a store remembers of its last read is only a hint: a change another store made since is seen, in writes and in outcomes")
    func rememberedRowsAreVerified() async throws {
        let database = try await TestDatabase.create()
        let settings = try PostgresSettings.parse(database.url.string!, environment: [:])
        let (a, b) = (try await PostgresStatusStore.open(settings, logger: Logger(label: "a")),
                      try await PostgresStatusStore.open(settings, logger: Logger(label: "b")))
        _ = try await a.submit([parcel("HINT-1"), parcel("HINT-2")], at: Date())
        _ = try await a.apply(.queued(.collection), to: ["HINT-1", "HINT-2"], worker: nil, at: Date())
        _ = try await a.apply(.deadLettered(.collection, reason: "scanner broke"), to: "HINT-1")
        // A remembers HINT-1 as dead-lettered and HINT-2 as queued; B then replays the one and starts the other.
        _ = try await a.check([parcel("HINT-1"), parcel("HINT-2")])
        #expect(try await b.apply(.replayed(.collection), to: "HINT-1") == .applied)
        #expect(try await b.apply(.started(.collection, attempt: 1), to: "HINT-2") == .applied)
        // From A's memory alone HINT-1 could not start and HINT-2 would start again; the store knows better.
        #expect(try await a.apply(.started(.collection, attempt: 1), to: "HINT-1") == .applied)
        #expect(try await a.apply(.started(.collection, attempt: 1), to: "HINT-2") == .duplicate)
        #expect(try await a.history("HINT-2").filter { $0.kind == .started }.count == 1)
        await a.close()
        await b.close()
        try await database.drop()
    }
}
