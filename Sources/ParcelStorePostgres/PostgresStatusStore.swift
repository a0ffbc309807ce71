import Foundation
import Logging
import ParcelCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The shared ``StatusStore``: one PostgreSQL database for workers on many machines
/// (`PARCELFLOW_STORE=postgres://user@host:port/db`), through postgres-nio's `PostgresClient`.
///
/// ```swift
/// let store = try await PostgresStatusStore.open(settings, logger: logger)   // runs its own client
/// let outcome = try await store.apply(.completed(.packaging), to: "P-2026-000001", worker: "host/4242")
/// await store.close()
/// ```
///
/// The store is a `Service`: a worker puts it first in its service group, which runs the client's
/// connection pool and, on shutdown, stops it last, after the work that writes to it. ``run()``
/// migrates the schema (``PostgresMigrations``) before any call goes through; calls made earlier
/// wait for it. ``open(_:logger:startupTimeout:)`` runs the store on a task of its own instead, for
/// commands with no service group, until ``close()``.
///
/// Every batch is one statement: a submit inserts the new parcels and reads the existing ones at
/// once; applying changes starts from the rows as the worker's check of the batch read them
/// (``RecentRows``; else it reads them, in one statement) and writes them in one statement that locks
/// them and writes only if none changed since (else it reads and computes again). The same
/// pure rules as every store decide each transition (``ParcelProgress/applying(_:)``), so a stage
/// can never be applied twice, even by two workers on two machines at the same moment.
public final class PostgresStatusStore: StatusStore, Service {
    public let settings: PostgresSettings
    let client: PostgresClient
    let logger: Logger
    private let lifecycle = Mutex<Lifecycle>(.starting([]))
    private let ownRun = Mutex<Task<Void, Never>?>(nil)
    let recomputedBatches = Atomic<Int>(0)
    let recentRows = RecentRows()

    /// Batches of changes computed again because one of their parcels changed between the read and the
    /// write (another writer's change; each such round costs a read and a write more).
    public var recomputed: Int { recomputedBatches.load(ordering: .relaxed) }

    private enum Lifecycle {
        case starting([CheckedContinuation<Void, any Error>])
        case ready
        case failed(StatusStoreError)
        case closed
    }

    /// How often a batch is computed again when other writers keep changing its parcels first.
    static let maxApplyRounds = 20

    /// How long ``open(_:logger:startupTimeout:)`` waits to connect and migrate.
    public static let defaultStartupTimeout: Duration = .seconds(15)

    /// The connections a store keeps to the server.
    ///
    /// Neither kind pings idle connections (postgres-nio's keep-alive), and a fixed set never closes
    /// idle ones: the pool times both with a `Task.sleep` per connection each time a call hands one
    /// back, and a cancelled sleep keeps its memory until it would have ended (swiftlang/swift#60441).
    /// A worker handing connections back ~1,000 times a second held ~60,000 such sleeps of 30–60 s:
    /// its RSS grew 45 → 69 MB over 200,000 parcels. A connection that died while idle is found by
    /// the next call on it, which fails like any other store error (a worker retries the batch).
    public enum Connections: Sendable, Equatable {
        /// Opened as calls need them, up to this many; those idle for a minute are closed. For
        /// commands that run a few calls and end.
        case onDemand(upTo: Int)
        /// This many, opened at the start and kept: a long-running process's steady traffic never
        /// waits for a connection to open and never schedules an idle timeout. A worker's calls are a
        /// check and a write at a time (``GroupCommitStore``), so a few suffice; more would only add
        /// to the server's connections (one set per worker).
        case fixed(Int)

        /// What ``open(_:logger:startupTimeout:)`` gives a command.
        public static let command = Connections.onDemand(upTo: 8)
        /// What a worker or a dashboard keeps.
        public static let service = Connections.fixed(3)
    }

    /// A store that connects once it runs (``run()``).
    public init(_ settings: PostgresSettings, logger: Logger, connections: Connections = .command) {
        self.settings = settings
        var logger = logger
        logger[metadataKey: LogKey.store] = "\(settings)"
        self.logger = logger
        var configuration = settings.clientConfiguration
        switch connections {
        case .onDemand(let maximum):
            configuration.options.minimumConnections = 0
            configuration.options.maximumConnections = maximum
        case .fixed(let count):
            configuration.options.minimumConnections = count
            configuration.options.maximumConnections = count
        }
        configuration.options.keepAliveBehavior = nil
        configuration.options.connectTimeout = .seconds(10)
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// Connects, migrates, and returns the store, running on a task of its own until ``close()``.
    /// Throws ``StatusStoreError`` when the server cannot be reached or logged into within
    /// `startupTimeout`, or the database is at a newer schema than this build knows.
    public static func open(_ settings: PostgresSettings, logger: Logger,
                            startupTimeout: Duration = defaultStartupTimeout) async throws(StatusStoreError) -> PostgresStatusStore {
        let store = PostgresStatusStore(settings, logger: logger)
        let task = Task<Void, Never> { try? await store.run() }
        store.ownRun.withLock { $0 = task }
        do {
            try await store.waitUntilReady(timeout: startupTimeout)
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    /// Runs the client's connections, migrates the schema, then lets calls through; returns when the
    /// service group shuts down gracefully or the task is cancelled. Throws if the migration fails.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            do {
                // On a connection of its own, so that a server that cannot be reached, or refuses the
                // login, says so now and in its own words (the pool would keep trying in silence).
                let connection = try await PostgresConnection.connect(
                    configuration: try settings.connectionConfiguration(), id: 0, logger: logger)
                do {
                    try await PostgresMigrations.migrate(connection, now: Date().unixMilliseconds, logger: logger)
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                let failure = StatusStoreError("open \(settings)", Self.describe(error))
                finishStarting(.failed(failure))
                throw failure
            }
            finishStarting(.ready)
        }
        finishStarting(.closed)
    }

    /// Lets go of the connections: later calls fail with "the store is closed". A store run by a
    /// service group closes when the group stops it.
    public func close() async {
        finishStarting(.closed)
        lifecycle.withLock { $0 = .closed }
        if let task = ownRun.withLock({ task in defer { task = nil }; return task }) {
            task.cancel()
            await task.value
        }
    }

    /// Returns once the store has connected and migrated (a worker consumes no task before), or
    /// throws why it will not.
    public func waitUntilReady() async throws(StatusStoreError) {
        try await ready("start")
    }

    private func finishStarting(_ next: Lifecycle) {
        let waiting = lifecycle.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard case .starting(let waiting) = state else { return [] }
            state = next
            return waiting
        }
        for continuation in waiting {
            switch next {
            case .ready: continuation.resume()
            case .failed(let error): continuation.resume(throwing: error)
            case .starting, .closed: continuation.resume(throwing: StatusStoreError("open \(settings)", "the store is closed"))
            }
        }
    }

    /// Returns once the store is migrated, or throws why it will not be.
    private func ready(_ operation: String) async throws(StatusStoreError) {
        let state = lifecycle.withLock { $0 }
        switch state {
        case .ready: return
        case .failed(let error): throw error
        case .closed: throw StatusStoreError(operation, "the store is closed")
        case .starting:
            do {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let resumeNow = lifecycle.withLock { state -> Result<Void, StatusStoreError>? in
                        switch state {
                        case .starting(var waiting):
                            waiting.append(continuation)
                            state = .starting(waiting)
                            return nil
                        case .ready: return .success(())
                        case .failed(let error): return .failure(error)
                        case .closed: return .failure(StatusStoreError(operation, "the store is closed"))
                        }
                    }
                    if let resumeNow { continuation.resume(with: resumeNow) }
                }
            } catch let error as StatusStoreError {
                throw error
            } catch {
                throw StatusStoreError(operation, "\(error)")
            }
        }
    }

    private func waitUntilReady(timeout: Duration) async throws(StatusStoreError) {
        let operation = "open \(settings)"
        let timedOut = StatusStoreError(
            operation, "could not connect and migrate within \(timeout): is the server running and reachable?")
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.ready(operation) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    self.finishStarting(.failed(timedOut))
                    throw timedOut
                }
                try await group.next()
                group.cancelAll()
            }
        } catch let error as StatusStoreError {
            throw error
        } catch {
            throw StatusStoreError(operation, "\(error)")
        }
    }

    // MARK: Running statements

    /// Runs `body` once the store is ready; any failure becomes a ``StatusStoreError`` naming
    /// `operation`, with the server's own words.
    func perform<Result: Sendable>(_ operation: String,
                                   _ body: () async throws -> Result) async throws(StatusStoreError) -> Result {
        try await ready(operation)
        do {
            return try await body()
        } catch let error as StatusStoreError {
            throw error
        } catch {
            throw StatusStoreError(operation, Self.describe(error))
        }
    }

    /// Runs `body` in one transaction on one connection: committed if it returns, rolled back if it
    /// throws. `readOnly` reads one snapshot of the whole database (REPEATABLE READ), without JIT
    /// compilation: the report's statements, costed above `jit_above_cost`, spent 10–20 ms each
    /// compiling expressions for a 50 ms run (the report on 200,000 parcels: 0.48 → 0.43 s). Set per
    /// transaction, not at connection start, which a pooler such as PgBouncer would refuse.
    func transaction<Result: Sendable>(readOnly: Bool = false,
                                       _ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await client.withConnection { connection in
            if readOnly {
                try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
                try await connection.query("SET LOCAL jit = off", logger: logger)
            } else {
                try await connection.query("BEGIN", logger: logger)
            }
            let result: Result
            do {
                result = try await body(connection)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            try await connection.query("COMMIT", logger: logger)
            return result
        }
    }

    /// The server's message and SQLSTATE, or what failed on the way to it; never a query's values.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return message + (error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        if let error = error as? PostgresStoreError { return error.description }
        return "\(error)"
    }

    /// Whether `error` is the server giving up on one transaction to let another go on (a deadlock or a
    /// serialization failure): running it again is the cure.
    static func isTransient(_ error: any Error) -> Bool {
        guard let state = (error as? PSQLError)?.serverInfo?[.sqlState] else { return false }
        return state == "40P01" || state == "40001"
    }

    static func query(_ sql: String, _ bind: (inout PostgresBindings) -> Void = { _ in }) -> PostgresQuery {
        var bindings = PostgresBindings()
        bind(&bindings)
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }
}
