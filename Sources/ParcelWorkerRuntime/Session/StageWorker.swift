import Foundation
import Logging
import ParcelCore
import ServiceLifecycle
import Synchronization

/// Runs the stages: takes deliveries from the stage queues, lets ``TaskProcessor`` decide, publishes
/// what it decided with a confirm, and only then acknowledges. Reconnects when the broker goes away
/// (``ReconnectPolicy``). A swift-service-lifecycle `Service`: it works until graceful shutdown, then
/// stops consuming, lets the handlers already running finish — they are never cancelled by the
/// shutdown — settles their outcomes, closes its connections and returns.
///
/// The broker is behind ``WorkerTransport`` (ParcelRabbit's `RabbitTransport` in production). The
/// life of a delivery is in StageWorker+Deliveries.swift (batching, the store check, handlers) and
/// StageWorker+Settling.swift (recording outcomes, publishing follow-ups, acknowledging); one
/// connected period in StageWorker+Session.swift (docs/ARCHITECTURE.md).
public final class StageWorker: Service, Sendable {
    public struct Configuration: Sendable {
        public var stages: [Stage]
        /// Tasks in flight at once, across all stages; each consumer's prefetch.
        public var concurrency: Int
        /// How long in-flight tasks may take to finish once shutdown begins; past it, the consuming
        /// connection closes and their deliveries go back to their queues.
        public var shutdownTimeout: Duration
        /// When to connect again after a failure.
        public var reconnect: ReconnectPolicy
        /// A handler still running after this long has its task recorded as started on its own, so
        /// the parcel shows as processing; quicker ones are recorded as started with their outcome.
        public var recordStartedAfter: Duration
        /// First and longest pause between tries of a failing status store.
        public var storeRetryDelay: ClosedRange<Duration>
        /// The stage queues' delivery limit: on the last delivery it allows, a task is quarantined
        /// instead of run again.
        public var deliveryLimit: Int
        /// How long settling waits for more finished tasks when it has a small batch (nil: never).
        /// Under an open loop the queues are shallow and tasks finish a few at a time: each store
        /// transaction, publish and confirm carried 6–8 tasks at 2,750–3,250 parcels/s. Waiting a
        /// millisecond doubles that, and costs no latency at 1,000/s (p99 26–29 ms against 30–31 ms;
        /// workers' and broker's CPU 8 % less; the ramp's highest held rate 4,000 → 4,250/s, medians
        /// of three alternating rounds). A lone task waits that millisecond once per stage.
        public var gatherSmallBatchesFor: Duration? = .milliseconds(1)

        public init(stages: [Stage] = Stage.allCases, concurrency: Int = 16, shutdownTimeout: Duration = .seconds(30),
                    reconnect: ReconnectPolicy = ReconnectPolicy(delay: .milliseconds(200) ... .seconds(5), brokerWait: .zero),
                    recordStartedAfter: Duration = .milliseconds(50),
                    storeRetryDelay: ClosedRange<Duration> = .milliseconds(100) ... .seconds(5), deliveryLimit: Int) {
            self.stages = stages
            self.concurrency = max(1, concurrency)
            self.shutdownTimeout = shutdownTimeout
            self.reconnect = reconnect
            self.recordStartedAfter = recordStartedAfter
            self.storeRetryDelay = storeRetryDelay
            self.deliveryLimit = deliveryLimit
        }
    }

    /// Counts of what the worker did, by outcome (and reconnections), for logs, tests and the status file.
    public struct Counters: Sendable, Hashable {
        public var outcomes: [TaskDecision.Outcome: Int] = [:]
        public var requeued = 0
        /// Deliveries the broker marked as given out before: after a lost connection, a kill, a
        /// partition, or a requeue.
        public var redelivered = 0
        public var reconnects = 0
        /// Store operations that failed and were tried again.
        public var storeFailures = 0

        public init() {}
    }

    /// Where the worker stands, for `/ready` and the status file.
    public enum Phase: String, Sendable, Hashable {
        case starting
        /// Connected, consumers running.
        case working
        /// Between connections.
        case reconnecting
        /// Shutdown began: finishing the tasks in flight.
        case stopping
        case stopped
    }

    let configuration: Configuration
    let transport: any WorkerTransport
    let processor: TaskProcessor
    let logger: Logger
    let metrics: ParcelMetrics.Worker
    private let counters = Mutex(Counters())
    private let state = Mutex(Phase.starting)
    private let phaseChanged: @Sendable (Phase) -> Void

    /// Metrics go to the swift-metrics backend bootstrapped before this (none: they cost nothing).
    /// `phaseChanged` hears every change of ``phase``, on the worker's own tasks: keep it quick.
    public init(transport: any WorkerTransport, configuration: Configuration, processor: TaskProcessor,
                logger: Logger = Logger(label: "parcelflow.worker"), phaseChanged: @escaping @Sendable (Phase) -> Void = { _ in }) {
        self.transport = transport
        self.configuration = configuration
        self.processor = processor
        var logger = logger
        logger[metadataKey: LogKey.endpoint] = "\(transport.endpoint)"
        self.logger = logger
        self.phaseChanged = phaseChanged
        metrics = ParcelMetrics.Worker()
    }

    public var counts: Counters { counters.withLock { $0 } }

    public var phase: Phase { state.withLock { $0 } }

    /// Deliveries taken and not yet acknowledged or handed back to their queue.
    public var tasksInFlight: Int { metrics.tasksInFlight }

    /// True while connected, with consumers running and shutdown not begun.
    public var isReady: Bool { phase == .working }

    func count(_ change: (inout Counters) -> Void) { counters.withLock { change(&$0) } }

    func setPhase(_ phase: Phase) {
        let changed = state.withLock { current -> Bool in
            // Once stopping, only `stopped` follows: a session ending meanwhile does not make it look
            // like it is reconnecting.
            guard current != phase, current != .stopped, current != .stopping || phase == .stopped else { return false }
            current = phase
            return true
        }
        guard changed else { return }
        metrics.setReady(phase == .working)
        phaseChanged(phase)
    }

    /// Works until graceful shutdown or cancellation (both drain: see ``StageWorker``), surviving
    /// connection losses. Throws what ``ReconnectPolicy`` gives up on: a broker absent for longer than
    /// `brokerWait` at startup, or any failure no waiting fixes.
    public func run() async throws {
        let policy = configuration.reconnect
        var attempts = policy.start()
        let started = ContinuousClock.now
        defer { setPhase(.stopped) }
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await session { policy.connected(&attempts) }
                return  // shutdown: the session drained and closed
            } catch {
                attempts.elapsed = ContinuousClock.now - started
                let fault = transport.classify(error)
                guard case .retry(let pause, let lost) = policy.failed(fault, &attempts) else { throw error }
                if lost {
                    setPhase(.reconnecting)
                    count { $0.reconnects += 1 }
                    metrics.reconnected()
                    logger.warning("lost the broker; reconnecting", metadata: [LogKey.error: "\(error)", LogKey.delay: "\(pause)"])
                } else {
                    let left = policy.brokerWait - attempts.elapsed
                    logger.warning("cannot reach the broker yet; trying again", metadata: [
                        LogKey.error: "\(error)", LogKey.delay: "\(pause)", "retry.giving_up_in": "\(left.components.seconds) s"])
                }
                // Cut short by a shutdown, which then ends the loop.
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
    }
}
