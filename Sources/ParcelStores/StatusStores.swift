import Foundation
import Logging
import ParcelCore
import ParcelStorePostgres
import ParcelStoreSQLite
import ServiceLifecycle

/// Opens the status store that a ``StoreLocation`` names. The one place outside the stores' own
/// targets that knows which types implement ``StatusStore``: the executables and the load test ask
/// here, so adding a store means a target of its own and a case below (docs/ARCHITECTURE.md).
public enum StatusStores {
    /// Opens (creating and migrating where the store does that) the store at `location`, ready for
    /// use until its `close()`. A PostgreSQL password not in the URL comes from `environment`
    /// (``PostgresSettings``).
    public static func open(_ location: StoreLocation,
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            logger: Logger = Logger(label: "parcelflow.store")) async throws -> any StatusStore {
        switch location {
        case .sqlite(let path):
            return try await SQLiteStatusStore.open(path: path)
        case .postgres(let url):
            return try await PostgresStatusStore.open(try PostgresSettings.parse(url, environment: environment), logger: logger)
        }
    }

    /// The bytes the store at `location` takes on disk: an SQLite file with its write-ahead log, or
    /// PostgreSQL's parcels and events tables with their indexes (`store`, open at that location, reads
    /// them); nil when they cannot be read. What a soak watches grow.
    public static func bytes(_ location: StoreLocation, store: any StatusStore) async -> Int? {
        switch location {
        case .sqlite(let path):
            let sizes = [path, path + "-wal"].compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }
            return sizes.isEmpty ? nil : sizes.reduce(0, +)
        case .postgres:
            return try? await (store as? PostgresStatusStore)?.tableBytes()
        }
    }

    /// The store at `location` for a process with a service group: the store, the service that runs its
    /// connections (nil when it has none), to go first in the group so that it stops last, after
    /// everything that writes to it, and `ready`, which returns once that service has connected and
    /// migrated (calls made earlier wait for it; a worker should not take tasks before). An SQLite
    /// store is opened here, at once.
    public static func forServiceGroup(_ location: StoreLocation,
                                       environment: [String: String] = ProcessInfo.processInfo.environment,
                                       logger: Logger) async throws -> ServiceGroupStore {
        switch location {
        case .sqlite(let path):
            return ServiceGroupStore(store: try await SQLiteStatusStore.open(path: path), service: nil, ready: {})
        case .postgres(let url):
            let store = PostgresStatusStore(try PostgresSettings.parse(url, environment: environment), logger: logger,
                                            connections: .service)
            return ServiceGroupStore(store: store, service: store, ready: { try await store.waitUntilReady() })
        }
    }
}

/// A store for a process with a service group (``StatusStores/forServiceGroup(_:environment:logger:)``).
public struct ServiceGroupStore: Sendable {
    public let store: any StatusStore
    public let service: (any Service)?
    public let ready: @Sendable () async throws -> Void
}
