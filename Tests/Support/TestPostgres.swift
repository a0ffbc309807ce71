import Foundation
import Testing

/// The PostgreSQL server the tests use: the one `deploy/local/postgres.sh` starts, whose URL
/// test.sh exports as PARCELFLOW_TEST_POSTGRES_URL.
public enum LocalPostgres {
    public static var url: URLComponents? {
        ProcessInfo.processInfo.environment["PARCELFLOW_TEST_POSTGRES_URL"].flatMap { URLComponents(string: $0) }
    }

    /// `psql -c SQL` against `server`'s database.
    public static func psql(_ server: URLComponents, _ sql: String) async throws -> ChildExit {
        try await run("/usr/bin/psql", ["-X", "-A", "-t", "-d", String(server.path.dropFirst()), "-c", sql], on: server)
    }

    /// A PostgreSQL client program (psql, pg_dump) at `server`, as its user; the password goes
    /// through PGPASSWORD, not the command line.
    public static func run(_ tool: String, _ arguments: [String], on server: URLComponents) async throws -> ChildExit {
        try await runChild(URL(fileURLWithPath: tool),
                           ["-w", "-h", server.host ?? "127.0.0.1", "-p", "\(server.port ?? 5432)", "-U", server.user ?? ""]
                               + arguments,
                           environment: ["PGPASSWORD": server.password?.removingPercentEncoding ?? "", "PGCONNECT_TIMEOUT": "5"])
    }
}

/// A database of its own on the test server, dropped at the end, and clients for it.
public struct TestDatabase: Sendable {
    public let server: URLComponents
    public let name: String

    /// Creates `pf_<random>` on the server PARCELFLOW_TEST_POSTGRES_URL names (its role may create databases).
    public static func create() async throws -> TestDatabase {
        let server = try #require(LocalPostgres.url, "PARCELFLOW_TEST_POSTGRES_URL is not set: ./deploy/local/test.sh starts PostgreSQL and sets it")
        let name = "pf_\(UInt32.random(in: 0...UInt32.max))"
        let made = try await LocalPostgres.psql(server, "CREATE DATABASE \(name)")
        try #require(made.status == 0, "\(made.errors)")
        return TestDatabase(server: server, name: name)
    }

    public var url: URLComponents {
        var url = server
        url.path = "/" + name
        return url
    }

    public func psql(_ sql: String) async throws -> ChildExit { try await LocalPostgres.psql(url, sql) }

    /// The schema as pg_dump prints it, without its comments, settings, restrict keys and blank lines.
    public func schemaDump() async throws -> String {
        let dump = try await LocalPostgres.run("/usr/lib/postgresql/15/bin/pg_dump",
                                               ["--schema-only", "--no-owner", "--no-privileges", name], on: server)
        try #require(dump.status == 0, "\(dump.errors)")
        return dump.lines.filter { line in
            // (\restrict and \unrestrict carry a random key per dump.)
            !line.hasPrefix("--") && !line.hasPrefix("SET ") && !line.hasPrefix("SELECT pg_catalog.set_config")
                && !line.hasPrefix("\\restrict") && !line.hasPrefix("\\unrestrict")
                && !line.trimmingCharacters(in: .whitespaces).isEmpty
        }.joined(separator: "\n")
    }

    public func drop() async throws {
        _ = try await LocalPostgres.psql(server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

