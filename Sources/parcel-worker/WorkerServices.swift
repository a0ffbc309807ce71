import Dispatch
import Foundation
import Logging
import ParcelCommandLine
import ParcelCore
import ParcelHTTP
import ParcelWorkerRuntime
import ServiceLifecycle
import Synchronization

// The long-running parts of `parcel-worker` besides the stage worker itself, each a
// swift-service-lifecycle `Service` in the one `ServiceGroup` the worker runs (ParcelWorker.swift).

/// `/metrics`, `/health` and `/ready`, until graceful shutdown (the last service to stop, so the
/// worker can be watched while it drains). `listening` learns the port, or why there is none.
struct MetricsServer: Service, CustomStringConvertible {
    var description: String { "metrics server" }

    let endpoint: MetricsEndpoint
    let listening: Gate<Int>
    let logger: Logger

    func run() async throws {
        do {
            try await endpoint.run(logger: logger) { port in
                logger.info("metrics on http://\(HTTPAddress(host: endpoint.address.host, port: port))/metrics")
                listening.open(.success(port))
            }
        } catch {
            let failure = CommandFailure("--metrics-port \(endpoint.address.port): cannot listen on \(endpoint.address): \(error)")
            listening.open(.failure(failure))
            throw failure
        }
    }
}

/// The stage worker, started once `gate` opens: a worker asked for metrics must not run unobserved
/// because their port is taken.
struct GatedWorker: Service, CustomStringConvertible {
    var description: String { "stage worker" }

    let gate: Gate<Int>?
    /// Returns once the store has connected and migrated: a task taken earlier would wait for it,
    /// unsettled, and every worker killed meanwhile would count against its delivery limit.
    let storeReady: @Sendable () async throws -> Void
    let worker: StageWorker

    func run() async throws {
        if let gate { _ = try await gate.value }
        try await storeReady()
        try await worker.run()
    }
}

/// Keeps the period gauges current (deliveries this period against the target; parcels held, and
/// returned this period): three count queries every 5 seconds, until graceful shutdown.
struct PeriodGauges: Service, CustomStringConvertible {
    var description: String { "period gauges" }

    let target: TargetSetting
    let store: any StatusStore
    let logger: Logger

    func run() async {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let now = Date()
            let period = target.period(at: now)
            do {
                let delivered = try await store.deliveredCount(in: period.interval)
                ParcelMetrics.recordPeriod(period, delivered: delivered, target: target.target, now: now)
                // Two more counts through the state index, of the (few) held and returned parcels.
                ParcelMetrics.recordReview(held: try await store.holds(limit: 0).total,
                                           returnedInPeriod: try await store.returnedCount(in: period.interval))
            } catch {
                logger.warning("could not count the period's deliveries, holds and returns", metadata: [LogKey.error: "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(5)) }
        }
    }
}

/// Keeps the status file current while the worker works: its tasks in flight change with every
/// batch, not only with its phase (the load test reads them before it kills a worker).
struct StatusRefresh: Service, CustomStringConvertible {
    var description: String { "status file" }

    let status: WorkerStatus

    func run() async {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            status.refresh()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: WorkerStatusReport.refreshInterval) }
        }
    }
}

/// Returns when the process that started this one has ended (its load test was killed): the group
/// then shuts down gracefully, as on SIGTERM. The parent is checked twice a second.
struct ParentWatch: Service, CustomStringConvertible {
    var description: String { "parent watch" }

    let logger: Logger

    func run() async {
        let parent = getppid()
        while !Task.isCancelled, !Task.isShuttingDownGracefully, getppid() == parent {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(500)) }
        }
        if getppid() != parent { logger.info("stopping: the process that started this worker has ended") }
    }
}

/// Where the worker stands, for `/ready` and the status file; metrics are bootstrapped before the
/// worker is made, so both learn of it afterwards.
final class WorkerStatus: Sendable {
    private let worker = Mutex<StageWorker?>(nil)
    private let hasWorked = Atomic<Bool>(false)
    private let store: GroupCommitStore
    private let path: String?
    private let logger: Logger

    init(store: GroupCommitStore, path: String?, logger: Logger) {
        self.store = store
        self.path = path
        self.logger = logger
    }

    func attach(_ worker: StageWorker) {
        self.worker.withLock { $0 = worker }
        phaseChanged(worker.phase)
    }

    var isReady: Bool { worker.withLock { $0?.isReady ?? false } }

    /// Whether there is a status file to keep.
    var writesFile: Bool { path != nil }

    /// Rewrites the status file (under the lock, so two changes never write at once).
    func phaseChanged(_ phase: StageWorker.Phase) {
        if phase == .working { hasWorked.store(true, ordering: .relaxed) }
        write(phase)
    }

    /// Rewrites the status file with the worker's current phase and tasks in flight
    /// (``StatusRefresh``, every ``WorkerStatusReport/refreshInterval`` while it works).
    func refresh() { write(nil) }

    /// Writes `phase`, or (nil) the current phase if it is `working`: read under the lock, so a
    /// refresh never writes `working` over a later change.
    private func write(_ phase: StageWorker.Phase?) {
        guard let path else { return }
        worker.withLock { worker in
            guard let phase = phase ?? worker.flatMap({ $0.phase == .working ? .working : nil }) else { return }
            let counts = worker?.counts ?? StageWorker.Counters()
            let written = store.written
            let report = WorkerStatusReport(
                phase: phase.rawValue, hasWorked: hasWorked.load(ordering: .relaxed), pid: ProcessInfo.processInfo.processIdentifier,
                outcomes: Dictionary(uniqueKeysWithValues: counts.outcomes.map { ($0.key.rawValue, $0.value) }),
                requeued: counts.requeued, redelivered: counts.redelivered, reconnects: counts.reconnects,
                storeFailures: counts.storeFailures,
                storeTransactions: written.transactions, storeChanges: written.changes,
                storeSeconds: store.writingTime / .seconds(1), inFlight: worker?.tasksInFlight)
            do {
                try report.write(to: path)
            } catch {
                logger.warning("could not write the status file", metadata: ["path": "\(path)", LogKey.error: "\(error)"])
            }
        }
    }
}

/// A value some tasks wait for and one provides, once.
final class Gate<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiters: [CheckedContinuation<Value, any Error>] = []
    }

    private let state = Mutex(State())

    func open(_ result: Result<Value, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, any Error>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { state -> Result<Value, any Error>? in
                    if state.result == nil { state.waiters.append(continuation) }
                    return state.result
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }
}
