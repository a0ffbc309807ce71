import AMQP
import ArgumentParser
import Dispatch
import Foundation
import Logging
import ParcelCommandLine
import ParcelCore
import ParcelWorkerRuntime
import ParcelHTTP
import ParcelRabbit
import Synchronization

@main
struct ParcelWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parcel-worker",
        abstract: "Work parcel tasks off the stage queues until stopped.",
        discussion: """
            Each task is recorded in the status store, its follow-up (the next stage, a retry, or a dead \
            letter) is published and confirmed, and only then is it acknowledged, so a crash anywhere \
            loses nothing. SIGTERM or Ctrl-C stops consuming and lets tasks in flight finish (up to \
            --shutdown-timeout), then exits 0; a second signal exits at once with status 130. Run as many \
            workers as you like against one broker and one store.
            """
    )

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var topologyOptions: TopologyOptions
    @OptionGroup var targetOptions: TargetOptions

    @Option(help: ArgumentHelp("Stages to work, comma-separated.", valueName: "stages"))
    var stages = Stage.allCases.map(\.rawValue).joined(separator: ",")

    @Option(help: "Tasks in flight at once (also each stage consumer's prefetch).")
    var concurrency = 16

    @Option(help: "Attempts at a stage before a transient failure is dead-lettered.")
    var maxAttempts = 5

    @Option(help: ArgumentHelp("Seconds in-flight tasks may take to finish after SIGTERM.", valueName: "seconds"))
    var shutdownTimeout: Double = 30

    @Option(help: ArgumentHelp(
        "Largest task body a stage consumer takes, in bytes.",
        discussion: "A delivery announced larger is never read into memory: it is dead-lettered as invalid, without its body.",
        valueName: "bytes"))
    var maxBodySize = AMQPLimits.defaultMaxBodySize

    @Option(help: ArgumentHelp(
        "Seconds to keep trying at startup while the broker cannot be reached (0: exit at once).",
        discussion: "A broker that is booting or restarting is waited for; a refused login or a conflicting queue exits at once.",
        valueName: "seconds"))
    var brokerWait: Double = 60

    @Option(help: ArgumentHelp("Simulated work per task: a time (5ms) or a range (5ms-20ms).", valueName: "time"))
    var stageTime = "0ms"

    @Option(help: "Share of simulated attempts that fail transiently (0 to 1).")
    var transientRate = 0.0

    @Option(help: "Share of simulated attempts that fail permanently (0 to 1).")
    var permanentRate = 0.0

    @Option(help: "Share of simulated inspections that hold the parcel (0 to 1).")
    var holdRate = 0.0

    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("Parcel ids whose processing crashes the worker (simulated poison), for tests.",
                               visibility: .hidden))
    var crashOn: [String] = []

    @Option(help: ArgumentHelp(
        "Serve /metrics (Prometheus), /health and /ready on this port; 0 picks a free one.",
        discussion: "Default: PARCELFLOW_METRICS_PORT; without either, no metrics are kept. By convention the first worker on a machine uses 9464, the next 9465, … (deploy/prometheus/prometheus.yml).",
        valueName: "port"))
    var metricsPort: Int?

    @Option(help: ArgumentHelp("Address the metrics endpoint listens on.", valueName: "address"))
    var metricsHost = "127.0.0.1"

    @Flag(help: ArgumentHelp("Stop (as on SIGTERM) when the process that started this one ends (parcelctl loadtest).",
                             visibility: .hidden))
    var exitWithParent = false

    @Flag(help: "Connect to the broker, print its version, and exit.")
    var check = false

    static func main() async {
        await runMain(defaultLogLevel: .info)
    }

    func run() async throws {
        let logger = Logger(label: "parcelflow.worker")
        let amqp = try broker.configuration(name: "parcel-worker \(ProcessInfo.processInfo.processIdentifier)")
        if check {
            let connection = try await AMQPConnection.connect(amqp)
            print("connected to \(connection.endpoint) (RabbitMQ \(connection.brokerVersion ?? "unknown version"))")
            await connection.close()
            return
        }
        let chosen = try parseStages()
        try Self.check("--shutdown-timeout", shutdownTimeout, within: 0...86_400)
        try Self.check("--broker-wait", brokerWait, within: 0...86_400)
        try Self.check("--max-body-size", Double(maxBodySize), within: 1024...Double(128 << 20))
        try Self.check("--concurrency", Double(concurrency), within: 1...Double(UInt16.max))
        let topology = try topologyOptions.topology()
        let workTime = try parseStageTime()
        for (name, rate) in [("--transient-rate", transientRate), ("--permanent-rate", permanentRate), ("--hold-rate", holdRate)]
        where !(0...1).contains(rate) {
            throw ValidationError("\(name) must be from 0 to 1")
        }
        let faults = SimulatedStageHandler.Faults(transientRate: transientRate, permanentRate: permanentRate, holdRate: holdRate,
                                                  crashOn: Set(crashOn))
        var handlers: [Stage: any StageHandler] = [:]
        for stage in Stage.allCases {
            handlers[stage] = SimulatedStageHandler(stage: stage, workTime: workTime, faults: faults)
        }
        let readiness = Readiness()
        let metrics = try metricsPortSetting().map { port in
            MetricsEndpoint.bootstrap(at: HTTPAddress(host: metricsHost, port: port)) { readiness.isReady }
        }
        let target = try targetOptions.setting()
        // Tasks in flight share transactions: one commit per batch, not per task.
        let statusStore = GroupCommitStore(try await store.open())
        let host = ProcessInfo.processInfo.hostName
        let processor = TaskProcessor(
            store: statusStore, handlers: handlers,
            retry: RetryPolicy(maxAttempts: maxAttempts, delays: topology.retryDelays),
            worker: "\(host)/\(ProcessInfo.processInfo.processIdentifier)")
        let worker = StageWorker(
            configuration: .init(amqp: amqp, topology: topology, stages: chosen, concurrency: concurrency,
                                 shutdownTimeout: .milliseconds(Int64(shutdownTimeout * 1000)),
                                 brokerWait: .milliseconds(Int64(max(0, brokerWait) * 1000)),
                                 queueReadingInterval: metrics == nil ? nil : .seconds(2), maxBodySize: maxBodySize),
            processor: processor, logger: logger)
        readiness.worker.withLock { $0 = worker }

        // Metrics first: a worker asked for them must not run unobserved because the port is taken.
        var serving: Task<Void, Never>?
        if let endpoint = metrics {
            do {
                let (port, task) = try await endpoint.start(logger: logger)
                serving = task
                logger.info("metrics on http://\(HTTPAddress(host: endpoint.address.host, port: port))/metrics")
            } catch {
                throw CommandFailure("--metrics-port \(endpoint.address.port): cannot listen on \(endpoint.address): \(error)")
            }
        }
        let gauges = metrics == nil ? nil : Task { await Self.recordPeriod(target, from: statusStore, logger: logger) }
        defer {
            serving?.cancel()
            gauges?.cancel()
        }
        let work = Task { try await worker.run() }
        let signals = Signals { count in
            if count == 1 {
                logger.info("stopping: finishing tasks in flight (signal again to exit at once)")
                work.cancel()
            } else {
                logger.warning("stopping at once; unfinished tasks go back to their queues")
                Foundation.exit(130)
            }
        }
        defer { signals.stop() }
        // An orphaned worker (its load test killed) stops as on SIGTERM: the parent is checked twice a second.
        let orphanWatch = exitWithParent ? Task {
            let parent = getppid()
            while !Task.isCancelled, getppid() == parent { try? await Task.sleep(for: .milliseconds(500)) }
            if !Task.isCancelled {
                logger.info("stopping: the process that started this worker has ended")
                work.cancel()
            }
        } : nil
        defer { orphanWatch?.cancel() }
        try await work.value
        let counts = worker.counts
        logger.info("stopped", metadata: [
            "outcomes": "\(counts.outcomes.map { "\($0.key.rawValue)=\($0.value)" }.sorted().joined(separator: " "))",
            "requeued": "\(counts.requeued)", "reconnects": "\(counts.reconnects)",
            "store_transactions": "\(statusStore.written.transactions)", "store_changes": "\(statusStore.written.changes)",
            "store_seconds": "\(String(format: "%.3f", statusStore.writingTime / .seconds(1)))"])
    }


    private func metricsPortSetting() throws -> Int? {
        var port = metricsPort
        if port == nil, let text = ProcessInfo.processInfo.environment["PARCELFLOW_METRICS_PORT"], !text.isEmpty {
            guard let value = Int(text) else { throw ValidationError("PARCELFLOW_METRICS_PORT '\(text)' is not a port number") }
            port = value
        }
        guard let port else { return nil }
        guard (0...65_535).contains(port) else { throw ValidationError("--metrics-port must be from 0 to 65535") }
        return port
    }

    /// Keeps the period gauges current until cancelled: one count query every 5 seconds.
    private static func recordPeriod(_ target: TargetSetting, from store: any StatusStore, logger: Logger) async {
        while !Task.isCancelled {
            let now = Date()
            let period = target.period(at: now)
            do {
                let delivered = try await store.deliveredCount(in: period.interval)
                ParcelMetrics.recordPeriod(period, delivered: delivered, target: target.target, now: now)
            } catch {
                logger.warning("could not count the period's deliveries", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(5))
        }
    }

    /// A number from the command line within the range this worker can use (checked before it is
    /// turned into a duration or a count, where an out-of-range value would trap).
    private static func check(_ flag: String, _ value: Double, within range: ClosedRange<Double>) throws {
        guard range.contains(value) else {
            throw ValidationError("\(flag) must be from \(NumberText.integer(Int(range.lowerBound))) to \(NumberText.integer(Int(range.upperBound)))")
        }
    }

    private func parseStages() throws -> [Stage] {
        var chosen: [Stage] = []
        for name in stages.split(separator: ",") {
            guard let stage = Stage(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--stages: '\(name)' is not a stage (collection, packaging, inspection, delivery)")
            }
            if !chosen.contains(stage) { chosen.append(stage) }
        }
        guard !chosen.isEmpty else { throw ValidationError("--stages needs at least one stage") }
        return chosen
    }

    private func parseStageTime() throws -> ClosedRange<Duration> {
        let parts = stageTime.split(separator: "-", maxSplits: 1).map(String.init)
        let bounds = parts.compactMap { ParcelTopology.parseDelays($0)?.first ?? ($0.trimmingCharacters(in: .whitespaces).hasPrefix("0") ? .zero : nil) }
        guard bounds.count == parts.count, let low = bounds.first, let high = bounds.last, low <= high else {
            throw ValidationError("--stage-time: give a time such as 5ms, or a range such as 5ms-20ms")
        }
        return low...high
    }
}

/// Whether the worker is ready, for `/ready`: metrics are bootstrapped before the worker is made, so
/// the endpoint learns of the worker afterwards.
final class Readiness: Sendable {
    let worker = Mutex<StageWorker?>(nil)

    var isReady: Bool { worker.withLock { $0?.isReady ?? false } }
}

/// SIGTERM and SIGINT, counted: the handler learns how many have arrived so far.
///
/// `@unchecked Sendable`: `sources` is set once in `init` and never changed; dispatch sources are
/// thread-safe to cancel, and their handlers run on one serial queue.
final class Signals: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let count = Atomic<Int>(0)

    init(_ handler: @escaping @Sendable (Int) -> Void) {
        var sources: [any DispatchSourceSignal] = []
        let queue = DispatchQueue(label: "parcelflow.signals")
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            sources.append(source)
        }
        self.sources = sources
        for source in sources {
            source.setEventHandler { [unowned self] in
                handler(count.add(1, ordering: .sequentiallyConsistent).newValue)
            }
            source.resume()
        }
    }

    func stop() {
        for source in sources { source.cancel() }
    }
}
