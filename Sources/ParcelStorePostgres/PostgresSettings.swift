import Foundation
import ParcelCore
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL store is and how to log in, from a `postgres://user@host:port/db` location.
///
/// The password comes from the URL, else `PARCELFLOW_STORE_PASSWORD`, else the file
/// `PARCELFLOW_STORE_PASSWORD_FILE` names (its first line; a secret mounted by systemd or Kubernetes).
/// It is never part of ``description``, and no error repeats it.
public struct PostgresSettings: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var database: String
    public var password: String?
    /// Whether the connection is encrypted: `?sslmode=` of the URL.
    public var tls: TLSMode = .prefer

    /// `sslmode` as libpq names it, of which three: `disable` (never; the default on a loopback
    /// address), `prefer` (when the server offers it; the default elsewhere) and `require` (always,
    /// with the server's certificate checked against the system's roots and its name: libpq's
    /// `verify-full`, which `verify-full` and `verify-ca` also select).
    public enum TLSMode: String, Sendable, Hashable {
        case disable, prefer, require
    }

    public static let passwordVariable = "PARCELFLOW_STORE_PASSWORD"
    public static let passwordFileVariable = "PARCELFLOW_STORE_PASSWORD_FILE"
    /// The largest password file read: a password is a line, not a document.
    static let maxPasswordFileBytes = 4096

    public init(host: String, port: Int = 5432, username: String, database: String, password: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.database = database
        self.password = password
    }

    /// Reads `url` (`postgres://` or `postgresql://`), then the password sources in `environment`.
    public static func parse(_ url: String, environment: [String: String]) throws(InvalidStoreLocation) -> PostgresSettings {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "postgres" || scheme == "postgresql"
        else { throw InvalidStoreLocation(url, "expected postgres://user@host:port/database") }
        guard let host = components.host, !host.isEmpty else {
            throw InvalidStoreLocation(url, "the database's host is missing (postgres://user@host:port/database)")
        }
        guard let username = components.user?.removingPercentEncoding, !username.isEmpty else {
            throw InvalidStoreLocation(url, "the user is missing (postgres://user@host:port/database)")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/"), let decoded = database.removingPercentEncoding else {
            throw InvalidStoreLocation(url, "the database's name is missing (postgres://user@host:port/database)")
        }
        let port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw InvalidStoreLocation(url, "the port must be from 1 to 65535") }
        var settings = PostgresSettings(host: host, port: port, username: username, database: decoded)
        settings.tls = ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host.lowercased()) ? .disable : .prefer
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else {
                throw InvalidStoreLocation(url, "unknown parameter '\(Echo.value(item.name))': only sslmode is understood")
            }
            switch item.value ?? "" {
            case "disable": settings.tls = .disable
            case "prefer", "allow": settings.tls = .prefer
            case "require", "verify-ca", "verify-full": settings.tls = .require
            default:
                throw InvalidStoreLocation(url, "sslmode must be disable, prefer or require (or verify-ca, verify-full)")
            }
        }
        if let password = components.password {
            settings.password = password.removingPercentEncoding ?? password
        } else if let password = environment[passwordVariable], !password.isEmpty {
            settings.password = password
        } else if let path = environment[passwordFileVariable], !path.isEmpty {
            settings.password = try readPasswordFile(path, location: url)
        }
        return settings
    }

    /// The first line of the file at `path`, which must hold one and be small.
    static func readPasswordFile(_ path: String, location: String) throws(InvalidStoreLocation) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw InvalidStoreLocation(location, "\(passwordFileVariable): cannot read \(Echo.value(path))")
        }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: maxPasswordFileBytes + 1), data.count <= maxPasswordFileBytes else {
            throw InvalidStoreLocation(location, "\(passwordFileVariable): \(Echo.value(path)) is over \(maxPasswordFileBytes) bytes: not a password file")
        }
        // "\r\n" is one Character in Swift: split on any line break, not on "\n".
        let line = String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .first.map(String.init) ?? ""
        guard !line.isEmpty else {
            throw InvalidStoreLocation(location, "\(passwordFileVariable): \(Echo.value(path)) holds no password on its first line")
        }
        return line
    }

    /// `postgres://user@host:port/database`: never the password.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }
}

extension PostgresSettings {
    /// The pool's configuration (the caller adds its options).
    var clientConfiguration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS = switch self.tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: username, password: password,
                                                         database: database, tls: tls)
        configuration.options.additionalStartupParameters = Self.sessionSettings
        return configuration
    }

    /// Settings every connection of the store starts its session with: `application_name` names
    /// ParcelFlow in `pg_stat_activity` and the server's log (a pooler such as PgBouncer passes it on).
    static let sessionSettings = [("application_name", "parcelflow")]

    /// One connection's configuration, the same as the pool's.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS = switch self.tls {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: username, password: password,
                                                             database: database, tls: tls)
        configuration.options.additionalStartupParameters = Self.sessionSettings
        return configuration
    }
}
