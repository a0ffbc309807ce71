import Foundation
import ParcelTestSupport
import Testing

/// The PostgreSQL server `deploy/local/postgres.sh` starts for the stores' tests (test.sh exports
/// its URL as PARCELFLOW_TEST_POSTGRES_URL): reachable with the test role's password, and with
/// nothing else — loopback only, password (SCRAM) authentication, no superuser over TCP.
@Suite("The project's own PostgreSQL", .enabled(if: LocalPostgres.url != nil, "PARCELFLOW_TEST_POSTGRES_URL is not set"))
struct LocalPostgresTests {
    @Test("the test role logs in with its password, on loopback only")
    func testRoleLogsIn() async throws {
        let server = try #require(LocalPostgres.url)
        let result = try await LocalPostgres.psql(server, "SELECT current_user || ' ' || current_database() || ' ' || current_setting('listen_addresses')")
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(server.user!) \(server.path.dropFirst()) 127.0.0.1")
    }

    @Test("a wrong password is refused, and so is the superuser over TCP")
    func othersRefused() async throws {
        var wrong = try #require(LocalPostgres.url)
        wrong.password = "not-the-password"
        let refused = try await LocalPostgres.psql(wrong, "SELECT 1")
        #expect(refused.status != 0)
        #expect(refused.errors.contains("password authentication failed"), "\(refused.errors)")

        var superuser = try #require(LocalPostgres.url)
        superuser.user = "postgres"
        superuser.password = nil
        let noPassword = try await LocalPostgres.psql(superuser, "SELECT 1")
        #expect(noPassword.status != 0, "the superuser has no way in over TCP: \(noPassword.output)")
    }
}
