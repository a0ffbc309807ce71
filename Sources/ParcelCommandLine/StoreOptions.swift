import ArgumentParser
import Foundation
import Logging
import ParcelCore
import ParcelStores
import ServiceLifecycle

/// Where the status store is: `--store`, else `PARCELFLOW_STORE`, else `sqlite:parcelflow.db` here.
public struct StoreOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("store"),
            help: ArgumentHelp("The status store: sqlite:PATH, or postgres://user@host:port/database.",
                               discussion: """
                                   Default: PARCELFLOW_STORE, else \(StoreLocation.defaultValue) in this folder. A \
                                   PostgreSQL password not in the URL comes from PARCELFLOW_STORE_PASSWORD or the \
                                   file PARCELFLOW_STORE_PASSWORD_FILE names; add ?sslmode=require for TLS.
                                   """,
                               valueName: "location"))
    public var location: String?

    /// The location the options name.
    public func resolved() throws -> StoreLocation {
        try StoreLocation.resolve(flag: location, environment: ProcessInfo.processInfo.environment)
    }

    /// The store, open and ready until its `close()`.
    public func open() async throws -> any StatusStore {
        try await StatusStores.open(try resolved(), logger: Logger(label: "parcelflow.store"))
    }

    /// The store for a process with a service group, the service that runs its connections if it has
    /// one, and when it is ready (see ``StatusStores/forServiceGroup(_:environment:logger:)``).
    public func openForServiceGroup(logger: Logger) async throws -> ServiceGroupStore {
        try await StatusStores.forServiceGroup(try resolved(), logger: logger)
    }
}
