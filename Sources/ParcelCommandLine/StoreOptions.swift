import ArgumentParser
import Foundation
import ParcelCore
import ParcelStores

/// Where the status store is: `--store`, else `PARCELFLOW_STORE`, else `sqlite:parcelflow.db` here.
public struct StoreOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("store"),
            help: ArgumentHelp("The status store: sqlite:PATH (or postgres://… once supported).",
                               discussion: "Default: PARCELFLOW_STORE, else \(StoreLocation.defaultValue) in this folder.",
                               valueName: "location"))
    public var location: String?

    public func open() async throws -> any StatusStore {
        do {
            return try await StatusStores.open(try StoreLocation.resolve(flag: location, environment: ProcessInfo.processInfo.environment))
        } catch let error as UnavailableStore {
            throw CommandFailure(error.description)
        }
    }
}
