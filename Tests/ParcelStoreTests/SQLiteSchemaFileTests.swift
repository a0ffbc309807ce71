import Foundation
import ParcelCore
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// `schemas/sql/sqlite.sql` is what people review; the migrations are what runs. They must agree.
@Suite("SQLite schema file")
struct SQLiteSchemaFileTests {
    static let schemaFile = repositoryRoot.appendingPathComponent("schemas/sql/sqlite.sql")

    @Test("schemas/sql/sqlite.sql creates exactly what the migrations create")
    func fileMatchesMigrations() async throws {
        let script = try String(contentsOf: Self.schemaFile, encoding: .utf8)
        try await withTemporaryFolder { folder in
            let migrated = try await SQLiteStatusStore.open(path: folder.appendingPathComponent("migrated.db").path)
            let fromFile = try await SQLiteStatusStore.open(path: folder.appendingPathComponent("file.db").path, migrate: false)
            try await fromFile.execute(script: script)
            let expected = try await Self.objects(fromFile)
            let actual = try await Self.objects(migrated)
            #expect(actual.map(\.name) == expected.map(\.name))
            for (object, fileObject) in zip(actual, expected) {
                #expect(object == fileObject, "schemas/sql/sqlite.sql differs from the migrations for \(object.name)")
            }
            #expect(expected.count == 8)
            await migrated.close()
            await fromFile.close()
        }
    }

    @Test("the schema's CHECK lists name every stage, state and event kind")
    func checkListsAreComplete() throws {
        let script = try String(contentsOf: Self.schemaFile, encoding: .utf8)
        // Each list by its column: parcels.state, events.kind, and stage in both tables.
        for state in ParcelStatus.State.allCases {
            #expect(script.contains("state = '\(state.rawValue)'"), "\(state) is missing from the state CHECK")
        }
        for kind in ParcelEvent.Kind.allCases {
            #expect(script.contains("kind = '\(kind.rawValue)'"), "\(kind) is missing from the kind CHECK")
        }
        for stage in Stage.allCases {
            let times = script.components(separatedBy: "stage = '\(stage.rawValue)'").count - 1
            #expect(times == 2, "\(stage) should be in the stage CHECK of both tables (found \(times))")
        }
    }

    struct SchemaObject: Equatable {
        var type: String
        var name: String
        var sql: String
    }

    /// Tables, indexes and triggers as SQLite holds them, their SQL normalised: comments dropped,
    /// white space collapsed, none around punctuation, no quotes around names (SQLite quotes the
    /// names a migration's `ALTER TABLE … RENAME` writes).
    static func objects(_ store: SQLiteStatusStore) async throws -> [SchemaObject] {
        try await store.query("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
            .map { SchemaObject(type: $0[0] ?? "", name: $0[1] ?? "", sql: normalised($0[2] ?? "")) }
    }

    static func normalised(_ sql: String) -> String {
        let withoutComments = sql.split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in line.range(of: "--").map { String(line[..<$0.lowerBound]) } ?? String(line) }
            .joined(separator: " ")
        var out = ""
        var pendingSpace = false
        for character in withoutComments where character != "\"" {
            if character.isWhitespace {
                pendingSpace = true
                continue
            }
            if pendingSpace, !out.isEmpty, !"(,".contains(out.last!), !"),;".contains(character) { out.append(" ") }
            pendingSpace = false
            out.append(character)
        }
        return out
    }
}
