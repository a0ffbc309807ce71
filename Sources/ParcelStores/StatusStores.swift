import ParcelCore
import ParcelStoreSQLite

/// Opens the status store that a ``StoreLocation`` names. The one place outside the stores' own
/// targets that knows which types implement ``StatusStore``: the executables and the load test ask
/// here, so adding a store means a target of its own and a case below (docs/ARCHITECTURE.md).
public enum StatusStores {
    /// Opens (creating and migrating where the store does that) the store at `location`.
    public static func open(_ location: StoreLocation) async throws -> any StatusStore {
        switch location {
        case .sqlite(let path):
            return try await SQLiteStatusStore.open(path: path)
        case .postgres:
            throw UnavailableStore(location: location)
        }
    }
}

/// A store this build cannot open yet.
public struct UnavailableStore: Error, CustomStringConvertible {
    public let location: StoreLocation

    public var description: String { "the PostgreSQL store is not available yet; use sqlite:PATH" }
}
