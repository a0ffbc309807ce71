import AMQP
import ArgumentParser
import Foundation
import Logging
import ParcelCommandLine
import ParcelCore
import ParcelHTTP
import ParcelRabbit
import ParcelWorkerRuntime
import ServiceLifecycle

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
    @OptionGroup var logOptions: LogOptions

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

    @Option(help: ArgumentHelp(
        "A stage's handler: [STAGE=]simulated, [STAGE=]rules:FILE or [STAGE=]http:URL (repeatable).",
        discussion: "Without a stage, every stage's; a stage nobody names is simulated. Default: PARCELFLOW_HANDLERS (the same words, separated by spaces).",
        valueName: "handler"))
    var handler: [String] = []

    @Option(help: ArgumentHelp("Seconds a handler has for one task (its deadline).", valueName: "seconds"))
    var handlerTimeout: Double = 30

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

    @Option(help: ArgumentHelp(
        "Keep a JSON report of where this worker stands in this file (phase, outcomes, store writes).",
        discussion: "Rewritten whole at every change: starting, working, reconnecting, stopping, stopped. parcelctl loadtest reads it.",
        valueName: "path"))
    var statusFile: String?

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
        try validateFaultRates(transient: transientRate, permanent: permanentRate, hold: holdRate)
        let faults = SimulatedStageHandler.Faults(transientRate: transientRate, permanentRate: permanentRate, holdRate: holdRate,
                                                  crashOn: Set(crashOn))
        try Self.check("--handler-timeout", handlerTimeout, within: 0.001...86_400)
        let choice = try handlerChoice()
        let built = try WorkerHandlers(choice: choice, concurrency: concurrency, logger: logger) { stage in
            SimulatedStageHandler(stage: stage, workTime: workTime, faults: faults)
        }
        let target = try targetOptions.setting()
        // Tasks in flight share transactions: one commit per batch, not per task.
        // A PostgreSQL store's connections are a service of the group below (first, so stopped last).
        let opened = try await store.openForServiceGroup(logger: logger)
        let statusStore = GroupCommitStore(opened.store)
        let status = WorkerStatus(store: statusStore, path: statusFile, logger: logger)
        let metrics = try metricsPortSetting().map { port in
            MetricsEndpoint.bootstrap(at: HTTPAddress(host: metricsHost, port: port)) { status.isReady }
        }
        let host = ProcessInfo.processInfo.hostName
        let processor = TaskProcessor(
            store: statusStore, handlers: built.handlers,
            retry: RetryPolicy(maxAttempts: maxAttempts, delays: topology.retryDelays),
            worker: "\(host)/\(ProcessInfo.processInfo.processIdentifier)", handlerTimeout: .seconds(handlerTimeout))
        let worker = StageWorker(
            transport: RabbitTransport(amqp: amqp, topology: topology, maxBodySize: maxBodySize, logger: logger),
            configuration: .init(stages: chosen, concurrency: concurrency,
                                 shutdownTimeout: .seconds(shutdownTimeout),
                                 reconnect: ReconnectPolicy(delay: .milliseconds(200) ... .seconds(5),
                                                            brokerWait: .seconds(brokerWait)),
                                 deliveryLimit: topology.deliveryLimit),
            processor: processor, logger: logger, phaseChanged: status.phaseChanged)
        status.attach(worker)

        // Started together; on SIGTERM or SIGINT stopped one at a time, last first: the worker drains,
        // then the watchers stop, then the metrics endpoint, then the store's connections.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let storeService = opened.service { services.append(.init(service: storeService)) }
        var listening: Gate<Int>?
        if let metrics {
            let gate = Gate<Int>()
            listening = gate
            services.append(.init(service: MetricsServer(endpoint: metrics, listening: gate, logger: logger)))
            services.append(.init(service: PeriodGauges(target: target, store: statusStore, logger: logger)))
            services.append(.init(service: QueueGauges(amqp: amqp, topology: topology, interval: .seconds(2), logger: logger)))
        }
        // Before the worker, so stopped after it: a handler's connections outlive the last task.
        for service in built.services { services.append(.init(service: service)) }
        if exitWithParent {
            services.append(.init(service: ParentWatch(logger: logger), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        if status.writesFile { services.append(.init(service: StatusRefresh(status: status))) }
        services.append(.init(service: GatedWorker(gate: listening, storeReady: opened.ready, worker: worker)))
        // The signals are ours alone (SignalEscalation below), not the group's: a SIGTERM that came
        // after the handler was installed but before the group listened would otherwise be lost.
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        // The group's own lines (at debug) in the keys every other line uses.
        configuration.logging.keys.serviceKey = "service"
        configuration.logging.keys.servicesKey = "services"
        configuration.logging.keys.errorKey = LogKey.error
        let group = ServiceGroup(configuration: configuration)
        // The first SIGTERM or SIGINT shuts the group down gracefully (one that comes before the group
        // runs is remembered by it, and the services start only to stop); a second means "now".
        let escalation = SignalEscalation(
            first: {
                logger.info("signal received: stopping gracefully (a second signal exits at once)")
                Task { await group.triggerGracefulShutdown() }
            },
            second: { logger.warning("stopping at once; unfinished tasks go back to their queues") })
        defer { escalation.stop() }
        try await group.run()
        await statusStore.close()
        let counts = worker.counts
        logger.info("stopped", metadata: [
            "outcomes": "\(counts.outcomes.map { "\($0.key.rawValue)=\($0.value)" }.sorted().joined(separator: " "))",
            "requeued": "\(counts.requeued)", "redelivered": "\(counts.redelivered)", "reconnects": "\(counts.reconnects)",
            "store.transactions": "\(statusStore.written.transactions)", "store.changes": "\(statusStore.written.changes)",
            "store.seconds": "\(String(format: "%.3f", statusStore.writingTime / .seconds(1)))"])
    }

    /// `--handler`, else PARCELFLOW_HANDLERS, else the simulator everywhere.
    private func handlerChoice() throws -> HandlerChoice {
        do {
            if !handler.isEmpty { return try HandlerChoice(parsing: handler, source: "--handler") }
            let words = (ProcessInfo.processInfo.environment["PARCELFLOW_HANDLERS"] ?? "")
                .split(whereSeparator: \.isWhitespace).map(String.init)
            return try HandlerChoice(parsing: words, source: "PARCELFLOW_HANDLERS")
        } catch {
            throw ValidationError(error.description)
        }
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
