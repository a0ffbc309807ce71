/// Where the status store lives: an SQLite file on this machine, or a PostgreSQL database shared by
/// many (`PARCELFLOW_STORE`; opened by ParcelStores, docs/ARCHITECTURE.md).
///
/// `sqlite:/var/lib/parcelflow/status.db`, `sqlite:status.db` (relative to the working folder),
/// `sqlite:///abs/path.db`, `postgres://user@host:5432/parcelflow` (or `postgresql://…`).
public enum StoreLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(url: String)

    public static let environmentVariable = "PARCELFLOW_STORE"
    /// A file in the working folder: nothing to install on a developer's machine.
    public static let defaultValue = "sqlite:parcelflow.db"
    public static let `default` = StoreLocation.sqlite(path: "parcelflow.db")

    /// The location to use, by precedence: `flag`, then the environment, then ``default``.
    public static func resolve(flag: String?, environment: [String: String]) throws(InvalidStoreLocation) -> StoreLocation {
        if let flag, !flag.isEmpty { return try parse(flag) }
        if let value = environment[environmentVariable], !value.isEmpty { return try parse(value) }
        return .default
    }

    public static func parse(_ text: String) throws(InvalidStoreLocation) -> StoreLocation {
        let lowered = text.lowercased()
        if lowered.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") {
                // The URL form: sqlite:///abs/path. A host (sqlite://name) means nothing here.
                path.removeFirst(2)
                guard path.hasPrefix("/") else {
                    throw InvalidStoreLocation(text, "write sqlite:PATH for a relative path, or sqlite:///PATH for an absolute one")
                }
            }
            guard !path.isEmpty else { throw InvalidStoreLocation(text, "the SQLite file's path is missing (sqlite:PATH)") }
            return .sqlite(path: path)
        }
        for scheme in ["postgres://", "postgresql://"] where lowered.hasPrefix(scheme) {
            guard text.count > scheme.count else {
                throw InvalidStoreLocation(text, "the database's host is missing (postgres://user@host:port/db)")
            }
            return .postgres(url: text)
        }
        throw InvalidStoreLocation(text, "expected sqlite:PATH (e.g. sqlite:/var/lib/parcelflow/status.db) or postgres://user@host:port/db")
    }

    /// The location as `PARCELFLOW_STORE` takes it, password and all: for a child process's
    /// environment, never for a log or a terminal (``description`` is for those).
    public var environmentValue: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): url
        }
    }

    /// The location with any password hidden: safe for logs.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): StoreLocation.redacted(url)
        }
    }

    /// `scheme://user:secret@host/…` becomes `scheme://user:***@host/…`.
    ///
    /// Errs on the side of hiding: the password runs from the first `:` after `scheme://` (or after
    /// the start, when the scheme is missing) to the last `@`, so one that holds an unencoded `/`,
    /// `?`, `#` or `@` is hidden whole too. (With no password but an `@` later on, more is hidden.)
    static func redacted(_ text: String) -> String {
        let start = text.range(of: "://")?.upperBound ?? text.startIndex
        guard let at = text[start...].lastIndex(of: "@"), let colon = text[start..<at].firstIndex(of: ":")
        else { return text }
        return String(text[..<text.index(after: colon)]) + "***" + String(text[at...])
    }
}

/// A `PARCELFLOW_STORE` value (or `--store` flag) that names no store we know.
public struct InvalidStoreLocation: Error, Sendable, Hashable, CustomStringConvertible {
    /// The value as given, password hidden.
    public var text: String
    public var reason: String

    public init(_ text: String, _ reason: String) {
        self.text = StoreLocation.redacted(text)
        self.reason = reason
    }

    public var description: String { "'\(text)' is not a status store location: \(reason)" }
}
