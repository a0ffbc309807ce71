import Foundation
import Logging
import ParcelCore
import ParcelStorePostgres
import ParcelStores
import ParcelTestSupport
import Testing

/// How many connections a store keeps: a worker's (``PostgresStatusStore/Connections/service``) a fixed
/// set, opened at the start and never grown or closed for idleness, because each connection the pool
/// hands back otherwise schedules timers whose memory outlives their cancellation (the type says more).
@Suite("PostgreSQL store: connections", .enabled(if: LocalPostgres.url != nil, "PARCELFLOW_TEST_POSTGRES_URL is not set"))
struct PostgresConnectionsTests {
    @Test("a worker's store opens its fixed connections at the start and keeps exactly those under many calls at once")
    func serviceStoreKeepsAFixedSet() async throws {
        guard case .fixed(let fixed) = PostgresStatusStore.Connections.service else {
            Issue.record("a service store's connections are not a fixed set: \(PostgresStatusStore.Connections.service)")
            return
        }
        let database = try await TestDatabase.create()
        let opened = try await StatusStores.forServiceGroup(.postgres(url: database.url.string!), environment: [:],
                                                            logger: Logger(label: "connections-test"))
        let service = try #require(opened.service)
        let running = Task { try await service.run() }
        try await opened.ready()

        // Opened at the start, before any call needs them.
        #expect(try await connections(to: database, once: fixed) == fixed)

        let ids = (0..<40).map { "CONN-\($0)" }
        _ = try await opened.store.submit(ids.map { parcel($0) }, at: Date())
        // Forty callers at once: they wait for one of the fixed connections, none is added.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask { _ = try await opened.store.check([parcel(id)]) }
            }
            group.addTask {
                for _ in 0..<5 {
                    let now = try await connections(to: database)
                    #expect(now <= fixed, "the pool grew to \(now) connections")
                }
            }
            try await group.waitForAll()
        }
        #expect(try await connections(to: database) == fixed)

        running.cancel()
        _ = await running.result
        try await database.drop()
    }

    /// The store's connections to `database`: those that name ParcelFlow (its session settings), not psql.
    private func connections(to database: TestDatabase) async throws -> Int {
        let answer = try await database.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'parcelflow'")
        try #require(answer.status == 0, "\(answer.errors)")
        return try #require(Int(answer.lines.first ?? ""), "psql answered \(answer.lines)")
    }

    /// The connections to `database` once they are `expected`, or as they are after five seconds (the
    /// pool opens them in the background).
    private func connections(to database: TestDatabase, once expected: Int) async throws -> Int {
        var now = try await connections(to: database)
        for _ in 0..<50 where now != expected {
            try await Task.sleep(for: .milliseconds(100))
            now = try await connections(to: database)
        }
        return now
    }
}
