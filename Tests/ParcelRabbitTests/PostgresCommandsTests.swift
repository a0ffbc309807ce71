import Foundation
import ParcelCore
import ParcelTestSupport
import Testing

/// `parcelctl` against a PostgreSQL store, as ops on many machines run it: `--store postgres://…`.
@Suite("parcelctl on PostgreSQL", .enabled(if: LocalPostgres.url != nil, "PARCELFLOW_TEST_POSTGRES_URL is not set"))
struct PostgresCommandsTests {
    @Test("submit, status, summary and report work on --store postgres://… as on SQLite", .timeLimit(.minutes(1)))
    func commandsOnPostgres() async throws {
        let database = try await TestDatabase.create()
        let fixture = try SubmitFixture()
        let cli = Parcelctl(environment: ["PARCELFLOW_AMQP_URL": Broker.url, "PARCELFLOW_NAMESPACE": fixture.topology.namespace])
        let store = ["--store", database.url.string!]
        #expect(try await cli.run(["setup"]).status == 0)
        let file = try fixture.write("december.csv", SubmitFixture.csv(SubmitFixture.parcels(40)))
        let submitted = try await cli.run(["submit", "--file", file] + store)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        #expect(submitted.stdout.contains("Queued 40 parcels for collection."), "\(submitted.stdout)")
        let rerun = try await cli.run(["submit", "--file", file] + store)
        #expect(rerun.stdout.contains("Already submitted, left as they are: 40 parcels"), "\(rerun.stdout)")

        let status = try await cli.run(["status", "P-7", "--json"] + store)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any], "\(status.stderr)")
        #expect((object["history"] as? [[String: Any]])?.compactMap { $0["kind"] as? String } == ["submitted", "queued"])
        let summary = try await cli.run(["summary"] + store)
        #expect(summary.status == 0, "\(summary.stderr)")
        #expect(summary.stdout.contains("40"), "\(summary.stdout)")
        let report = try await cli.run(["report", "--json"] + store)
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any], "\(report.stderr)")
        #expect(figures["parcels"] as? Int == 40, "\(figures)")
        // All of it is in the database.
        let rows = try await database.psql("SELECT count(*) FROM parcels")
        #expect(rows.output.trimmingCharacters(in: .whitespacesAndNewlines) == "40")
        try await fixture.tearDown()
        try await database.drop()
    }

    @Test("a wrong password or a missing database is said in the server's words, naming the server and never the password")
    func refusedLogins() async throws {
        let server = try #require(LocalPostgres.url)
        let cli = Parcelctl(environment: [:])
        var wrong = server
        wrong.password = "Wr0ng-Secret-9f3k"
        let refused = try await cli.run(["summary", "--store", wrong.string!])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("password authentication failed"), "\(refused.stderr)")
        #expect(refused.stderr.contains("postgres://\(server.user!)@\(server.host!):\(server.port!)/"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("Wr0ng-Secret-9f3k") && !refused.stdout.contains("Wr0ng-Secret-9f3k"))

        var missing = server
        missing.path = "/no_such_database"
        let absent = try await cli.run(["summary", "--store", missing.string!])
        #expect(absent.status != 0)
        #expect(absent.stderr.contains("database \"no_such_database\" does not exist"), "\(absent.stderr)")
        #expect(!absent.stderr.contains(server.password!), "the password was printed")

        // From the environment, for a URL without one: the same login works.
        var bare = server
        bare.password = nil
        let fromEnvironment = try await Parcelctl(environment: ["PARCELFLOW_STORE_PASSWORD": server.password!.removingPercentEncoding!])
            .run(["summary", "--store", bare.string!])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
    }
}
