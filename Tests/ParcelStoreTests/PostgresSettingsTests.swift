import Foundation
import ParcelCore
import ParcelStorePostgres
import Testing

@Suite("PostgreSQL store location and password")
struct PostgresSettingsTests {
    @Test("a URL's parts, with the password percent-decoded; the description never shows it")
    func parsesURL() throws {
        let settings = try PostgresSettings.parse("postgresql://ops%40depot:s%3Acret%2F1@db.example:6432/parcel%20flow",
                                                  environment: [:])
        #expect(settings == PostgresSettings(host: "db.example", port: 6432, username: "ops@depot", database: "parcel flow",
                                             password: "s:cret/1"))
        #expect(settings.description == "postgres://ops@depot@db.example:6432/parcel flow")
        #expect(!settings.description.contains("cret"))
        #expect(try PostgresSettings.parse("postgres://u@h/db", environment: [:]).port == 5432)
    }

    @Test("sslmode: disable on loopback and prefer elsewhere unless the URL says; an unknown mode or parameter is refused by name")
    func tlsModes() throws {
        #expect(try PostgresSettings.parse("postgres://u@127.0.0.1:5684/db", environment: [:]).tls == .disable)
        #expect(try PostgresSettings.parse("postgres://u@localhost/db", environment: [:]).tls == .disable)
        #expect(try PostgresSettings.parse("postgres://u@db.example/db", environment: [:]).tls == .prefer)
        #expect(try PostgresSettings.parse("postgres://u@db.example/db?sslmode=require", environment: [:]).tls == .require)
        #expect(try PostgresSettings.parse("postgres://u@db.example/db?sslmode=verify-full", environment: [:]).tls == .require)
        #expect(try PostgresSettings.parse("postgres://u@127.0.0.1/db?sslmode=prefer", environment: [:]).tls == .prefer)
        #expect(try PostgresSettings.parse("postgres://u@db.example/db?sslmode=disable", environment: [:]).tls == .disable)
        #expect { try PostgresSettings.parse("postgres://u@h/db?sslmode=sometimes", environment: [:]) } throws: {
            "\($0)".contains("sslmode must be disable, prefer or require")
        }
        #expect { try PostgresSettings.parse("postgres://u@h/db?connect_timeout=3", environment: [:]) } throws: {
            "\($0)".contains("unknown parameter 'connect_timeout'")
        }
    }

    @Test("no password in the URL: PARCELFLOW_STORE_PASSWORD, else the first line of PARCELFLOW_STORE_PASSWORD_FILE")
    func passwordSources() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pg-settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("password")
        try Data("from-file\r\nsecond line\n".utf8).write(to: file)
        #expect(try PostgresSettings.parse("postgres://u:in-url@h/db", environment: [
            PostgresSettings.passwordVariable: "from-env", PostgresSettings.passwordFileVariable: file.path]).password == "in-url")
        #expect(try PostgresSettings.parse("postgres://u@h/db", environment: [
            PostgresSettings.passwordVariable: "from-env", PostgresSettings.passwordFileVariable: file.path]).password == "from-env")
        #expect(try PostgresSettings.parse("postgres://u@h/db", environment: [
            PostgresSettings.passwordFileVariable: file.path]).password == "from-file")
        #expect(try PostgresSettings.parse("postgres://u@h/db", environment: [:]).password == nil)
    }

    @Test("a bad location or password file says what and where, and never repeats the password",
          arguments: [
            ("mysql://u:topsecret@h/db", "expected postgres://"),
            ("postgres://u:topsecret@/db", "host is missing"),
            ("postgres://:topsecret@h/db", "user is missing"),
            ("postgres://u:topsecret@h/", "name is missing"),
            ("postgres://u:topsecret@h:0/db", "port must be"),
          ])
    func refused(url: String, reason: String) {
        #expect {
            try PostgresSettings.parse(url, environment: [:])
        } throws: { error in
            let text = "\(error)"
            return text.contains(reason) && !text.contains("topsecret")
        }
    }

    @Test("a password file that is missing, empty or too large to be one is refused")
    func badPasswordFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pg-settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let empty = folder.appendingPathComponent("empty")
        try Data("\n".utf8).write(to: empty)
        let large = folder.appendingPathComponent("large")
        try Data(repeating: 0x61, count: 5000).write(to: large)
        for (path, reason) in [(folder.appendingPathComponent("none").path, "cannot read"), (empty.path, "no password"),
                               (large.path, "over 4096 bytes")] {
            #expect {
                try PostgresSettings.parse("postgres://u@h/db", environment: [PostgresSettings.passwordFileVariable: path])
            } throws: { error in "\(error)".contains(reason) }
        }
    }
}
