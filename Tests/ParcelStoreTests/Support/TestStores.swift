import Foundation
import ParcelCore
import Logging
import ParcelStorePostgres
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// Every store the contract suite runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory
    case sqlite
    /// SQLite behind the group-commit wrapper the workers use.
    case groupCommit = "group-commit"
    /// A database of its own on the test server (``LocalPostgres``), dropped afterwards.
    case postgres

    var testDescription: String { rawValue }
}

/// Runs `body` with a new, empty store of `kind`; an SQLite store lives in a temporary folder that is
/// removed afterwards.
func withStore<T>(_ kind: StoreKind, _ body: (any StatusStore) async throws -> T) async throws -> T {
    switch kind {
    case .memory:
        return try await body(InMemoryStatusStore())
    case .sqlite:
        return try await withTemporaryFolder { folder in
            let store = try await SQLiteStatusStore.open(path: folder.appendingPathComponent("status.db").path)
            let result = try await body(store)
            await store.close()
            return result
        }
    case .groupCommit:
        return try await withTemporaryFolder { folder in
            let store = try await SQLiteStatusStore.open(path: folder.appendingPathComponent("status.db").path)
            let result = try await body(GroupCommitStore(store))
            await store.close()
            return result
        }
    case .postgres:
        let database = try await TestDatabase.create()
        do {
            let store = try await PostgresStatusStore.open(
                try PostgresSettings.parse(database.url.string!, environment: [:]), logger: Logger(label: "test"))
            let result = try await body(store)
            await store.close()
            try await database.drop()
            return result
        } catch {
            try? await database.drop()
            throw error
        }
    }
}

/// Runs `body` with a new folder that is removed afterwards, whatever happens.
func withTemporaryFolder<T>(_ body: (URL) async throws -> T) async throws -> T {
    let folder = FileManager.default.temporaryDirectory
        .appendingPathComponent("parcelflow-store-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    return try await body(folder)
}

func parcel(_ id: String, letters: Int = 2, drawings: Int = 1) -> Parcel {
    Parcel(id: id, sender: .init(name: "Amina \"Mama\" Haddad", relation: .mother),
           recipient: .init(name: "Yusuf Haddad", facility: "Ward 3, St. Mary's — North wing 🏥"),
           contents: .init(letters: letters, drawings: drawings), weightGrams: 120, origin: "depot-north")
}

/// The `n`th second of 1 December 2026 (UTC): whole milliseconds, so every store keeps it exactly.
func moment(_ n: Int) -> Date {
    Date(timeIntervalSince1970: Double(1_796_083_200 + n))
}

/// The transitions that take a parcel at `stage` through it: started (attempt 1), completed. A
/// completion queues the next stage itself (the worker's "queued" after publishing it is a duplicate).
func through(_ stage: Stage) -> [Transition] {
    [.started(stage, attempt: 1), .completed(stage)]
}

/// Everything from submitted to delivered.
let wholeJourney: [Transition] = [.queued(.collection)] + Stage.allCases.flatMap(through)

extension StatusStore {
    /// Applies `transitions` to one parcel, each at the next moment after `start`, and expects each to apply.
    /// - Returns: the next unused moment.
    @discardableResult
    func applyAll(_ transitions: [Transition], to id: String, worker: String? = "test-worker",
                  from start: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int {
        var n = start
        for transition in transitions {
            let outcome = try await apply(transition, to: id, worker: worker, at: moment(n))
            #expect(outcome == .applied, "\(transition)", sourceLocation: sourceLocation)
            n += 1
        }
        return n
    }
}
