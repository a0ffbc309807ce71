import AMQP
import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore
import ParcelLoadTest
import ParcelRabbit
import Synchronization

struct LoadTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest",
        abstract: "Run a load test: start workers, submit parcels, inject faults, and check nothing was lost.",
        discussion: """
            Starts --workers parcel-worker processes (in a namespace of the test's own, and a SQLite store of \
            its own unless --store names one, e.g. postgres://…; removed afterwards unless --keep), waits until they consume, submits --parcels generated parcels, shows \
            progress, and ends with a verdict from the store and the broker: every parcel final, none lost, \
            none applied twice, delivered + held + dead-lettered = submitted, the stage and retry queues \
            empty. Then throughput, latency percentiles (HdrHistogram) per stage and end to end, retries, and \
            where the time went. The time runs from the first submit publish to the last parcel final. \
            Exit status 1 when any invariant is broken. With --workers 0 it uses workers already running \
            (on the usual --namespace and --store).

            On a cluster (--url with every node's URL, comma-separated) --stop-node-at stops the node leading \
            most of the run's stage queues and --start-node-at starts it again; --rolling-restart-at restarts \
            every node one by one. A probe publishing with confirms through that node measures how long each \
            stop held publishing up (recovery). No node is left stopped when the command ends, even on a failure \
            or an interrupt.

            Chaos must happen: --kills N makes N worker kills land (spread over the run by its progress, or \
            with --kill-worker-every one per interval, the run held open until all happened), and a kill, a broker \
            restart or a cluster fault asked for and not made fails the verdict; a warning at the start says when \
            an interval or a time is past the run's expected length. The report counts the kills that came \
            mid-batch (the killed worker had tasks in flight, by its own status file just before the kill).
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var topologyOptions: TopologyOptions

    @Option(help: ArgumentHelp("Parcels to submit (default 2000).", discussion: "With --rate: on that schedule.")) var parcels: Int?
    @Option(help: ArgumentHelp("Submit on a schedule, open loop: parcel i is due at start + i/rate (e.g. 500/s, 30/m).",
                               discussion: """
                                   Latency is then measured from each parcel's due time, not from its send (no coordinated \
                                   omission), and the report adds an open_loop section: p50/p90/p99/p99.9 end to end and per \
                                   stage, the achieved rates, and the backlog when the last parcel was due. With --duration \
                                   or --parcels.
                                   """,
                               valueName: "rate"))
    var rate: String?
    @Option(help: ArgumentHelp("How long to submit (e.g. 60s, 10m): at --rate, rate × duration parcels; without it, closed loop for that long.",
                               discussion: "Without --rate, batches keep a bounded backlog queued until the time is up, then the run drains.",
                               valueName: "time"))
    var duration: String?
    @Option(help: ArgumentHelp("The soak's interval (e.g. 10s): parcels final, worker and parcelctl memory, parcelctl CPU and the store's size each.",
                               discussion: "Default: about twenty per run, from 1s to 60s.", valueName: "time"))
    var interval: String?
    @Option(help: ArgumentHelp("Step the rate up, open loop: START:STEP:LENGTH (e.g. 200/s:200/s:10s), until a step's p99 end to end passes --p99-bound.",
                               discussion: "Each step is a load test of its own (workers, namespace, store); the report gives each step's p99 and the highest rate that held.",
                               valueName: "ramp"))
    var ramp: String?
    @Option(help: ArgumentHelp("With --ramp: the p99 end to end a step must keep (e.g. 250ms).", valueName: "time"))
    var p99Bound: String?
    @Option(help: "Worker processes to start (0: use running ones).") var workers = 2
    @Option(help: "Tasks in flight per worker.") var concurrency = 200
    @Option(help: ArgumentHelp("Simulated work per task: a time (5ms) or a range (5ms-20ms).", valueName: "time"))
    var stageTime = "0ms"
    @Option(help: "Share of attempts that fail transiently (0 to 1).") var transientRate = 0.0
    @Option(help: "Share of attempts that fail permanently (0 to 1).") var permanentRate = 0.0
    @Option(help: "Share of inspections that hold the parcel (0 to 1).") var holdRate = 0.0
    @Option(help: "Attempts at a stage before a transient failure is dead-lettered.") var maxAttempts = 5
    @Option(help: ArgumentHelp("Kill a random worker with SIGKILL every this many seconds, and start a new one.",
                               valueName: "seconds"))
    var killWorkerEvery: Double?
    @Option(help: ArgumentHelp("Kill this many workers in all (SIGKILL, each replaced).",
                               discussion: """
                                   Alone: spread over the run by its progress, kill n once n/(N+1) of the parcels are final, \
                                   so each lands under load. With --kill-worker-every: one every interval, and the run is held \
                                   open until all N happened. Kills asked for and not made fail the verdict.
                                   """,
                               valueName: "count"))
    var kills: Int?
    @Option(help: ArgumentHelp("Stop and start the broker node this many seconds into the run.", valueName: "seconds"))
    var restartBrokerAt: Double?
    @Option(help: ArgumentHelp("Stop a cluster node this many seconds into the run: the one leading most of the run's stage queues.",
                               valueName: "seconds"))
    var stopNodeAt: Double?
    @Option(help: ArgumentHelp("Start the stopped node again this many seconds into the run.",
                               discussion: "Default: once every parcel is final, before the verdict.", valueName: "seconds"))
    var startNodeAt: Double?
    @Option(help: ArgumentHelp("From this many seconds into the run, restart every cluster node one by one.",
                               discussion: "Each node is stopped, started, and waited for until the cluster is whole again, then the next.",
                               valueName: "seconds"))
    var rollingRestartAt: Double?
    @Option(help: ArgumentHelp("Cut the node leading most stage queues off the network this many seconds into the run (it keeps running).",
                               discussion: "Through the broker script's `isolate NODE` (deploy/local/netns.sh: the cluster on hosts of its own); healed at --heal-at.",
                               valueName: "seconds"))
    var isolateNodeAt: Double?
    @Option(help: ArgumentHelp("Cut the node leading most stage queues off from the other nodes this many seconds into the run; clients still reach it.",
                               discussion: "The script's `split NODE`; with pause_minority the node pauses until --heal-at.",
                               valueName: "seconds"))
    var splitNodeAt: Double?
    @Option(help: ArgumentHelp("Cut the first worker's host off the network this many seconds into the run (needs --worker-hosts).",
                               discussion: "The script's `isolate HOST`; healed at --heal-at (`heal HOST`).", valueName: "seconds"))
    var isolateWorkerAt: Double?
    @Option(help: ArgumentHelp("Heal the partition this many seconds into the run.", valueName: "seconds"))
    var healAt: Double?
    @Option(help: ArgumentHelp("Run the workers on these hosts of the broker script, in turn (e.g. w1,w2).",
                               discussion: "Each worker starts as `SCRIPT exec HOST -- parcel-worker …`.", valueName: "hosts"))
    var workerHosts: String?
    @Option(help: ArgumentHelp("The script that stops and starts broker nodes.",
                               discussion: """
                                   Default: PARCELFLOW_BROKER_SCRIPT, else deploy/local/broker.sh here. Called as `stop|start \
                                   [--name NODE]`; for a cluster also `cluster nodes|leaders|status`.
                                   """,
                               valueName: "path"))
    var brokerScript: String?
    @Option(help: ArgumentHelp("The broker node's name for the script (its --name), when not the default node.",
                               valueName: "name"))
    var brokerNode: String?
    @Option(help: ArgumentHelp("Seconds to wait for every parcel to be final.", valueName: "seconds"))
    var timeout: Double = 600
    @Flag(help: "Keep the test's namespace, store and worker logs.") var keep = false
    @Option(help: ArgumentHelp(
        "Stages whose work the HTTP handler does, comma-separated (e.g. delivery), against a local service the test starts.",
        discussion: "The service (HandoverServer) takes each handover once, answers a repeat of its Idempotency-Key with 409, and fails --http-fault-rate of the requests on purpose (503 with Retry-After: 1, or 500). The verdict checks it against the store: every parcel past such a stage was handed over there, and no other.",
        valueName: "stages"))
    var httpStages: String?
    @Option(help: "Share of the local service's answers that fail on purpose (0 to 1).") var httpFaultRate = 0.0
    @Option(help: ArgumentHelp("How long the local service takes to answer (e.g. 5ms).", valueName: "time")) var httpDelay = "0ms"

    @Flag(help: "Print the whole report as one JSON object.") var json = false

    func validate() throws {
        if let parcels, parcels <= 0 { throw ValidationError("--parcels must be 1 or more") }
        if try rampPlan() == nil { _ = try openLoopSchedule() }
        _ = try closedLoopDuration()
        _ = try soakInterval()
        guard workers >= 0 else { throw ValidationError("--workers must be 0 or more") }
        guard concurrency > 0 else { throw ValidationError("--concurrency must be 1 or more") }
        try validateFaultRates(transient: transientRate, permanent: permanentRate, hold: holdRate)
        if workers == 0, killWorkerEvery != nil {
            throw ValidationError("--kill-worker-every needs workers the test starts (--workers 1 or more)")
        }
        if let every = killWorkerEvery, !(every.isFinite && every > 0 && every <= 86_400) {
            throw ValidationError("--kill-worker-every must be above 0 and at most 86,400 seconds")
        }
        if let kills {
            guard workers > 0 else { throw ValidationError("--kills needs workers the test starts (--workers 1 or more)") }
            guard (1...1000).contains(kills) else { throw ValidationError("--kills must be from 1 to 1,000") }
            if killWorkerEvery == nil, kills >= parcels ?? 2000 {
                throw ValidationError("--kills \(kills) spreads kills over the parcels' progress: give fewer kills than "
                    + "--parcels (\(parcels ?? 2000)), or --kill-worker-every")
            }
        }
        for (flag, value) in [("--restart-broker-at", restartBrokerAt), ("--stop-node-at", stopNodeAt),
                              ("--start-node-at", startNodeAt), ("--rolling-restart-at", rollingRestartAt),
                              ("--isolate-node-at", isolateNodeAt), ("--split-node-at", splitNodeAt),
                              ("--isolate-worker-at", isolateWorkerAt), ("--heal-at", healAt)] {
            if let value, !(value.isFinite && value >= 0 && value <= 86_400) {
                throw ValidationError("\(flag) must be from 0 to 86,400 seconds")
            }
        }
        if [restartBrokerAt, stopNodeAt, rollingRestartAt, isolateNodeAt, splitNodeAt, isolateWorkerAt].compactMap({ $0 }).count > 1 {
            throw ValidationError("give one of --restart-broker-at, --stop-node-at, --rolling-restart-at, --isolate-node-at, "
                + "--split-node-at and --isolate-worker-at")
        }
        try validatePartition()
        if let start = startNodeAt {
            guard let stop = stopNodeAt else { throw ValidationError("--start-node-at needs --stop-node-at") }
            guard start > stop else { throw ValidationError("--start-node-at must be later than --stop-node-at") }
        }
        if httpStages != nil {
            _ = try parsedHTTPStages()
            guard workers > 0 else { throw ValidationError("--http-stages needs workers the test starts (--workers 1 or more)") }
        }
        guard httpFaultRate.isFinite, (0...1).contains(httpFaultRate) else {
            throw ValidationError("--http-fault-rate must be from 0 to 1")
        }
        _ = try parsedHTTPDelay()
        let clusterFlag = stopNodeAt != nil ? "--stop-node-at" : rollingRestartAt != nil ? "--rolling-restart-at"
            : isolateNodeAt != nil ? "--isolate-node-at" : splitNodeAt != nil ? "--split-node-at" : nil
        if let clusterFlag {
            let url = BrokerSettings.url(flag: broker.url, environment: ProcessInfo.processInfo.environment)
            let nodes = (try? AMQPEndpoint.list(url).count) ?? 0
            if nodes < 2 {
                throw ValidationError("\(clusterFlag) needs a cluster: give every node's URL, comma-separated, with --url or "
                    + "PARCELFLOW_AMQP_URL (at least 2; \(nodes == 0 ? "the URL is not valid" : "it names 1"))")
            }
        }
    }

    func run() async throws {
        let own = workers > 0
        let runID = "lt\(UInt32.random(in: 0...UInt32.max))"
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parcelflow-loadtest-\(runID)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var topology = try topologyOptions.topology()
        let storeLocation: StoreLocation
        if own {
            topology.namespace = "loadtest.\(runID)"
            topology.retryDelays = [.milliseconds(100), .milliseconds(500), .seconds(2)]
            // The store given with --store (its parcels' ids are this run's own), else a new SQLite file.
            storeLocation = store.location == nil ? .sqlite(path: folder.appendingPathComponent("status.db").path) : try store.resolved()
        } else {
            storeLocation = try store.resolved()
        }
        let amqp = try broker.configuration(name: "parcelctl loadtest")
        var configuration = LoadTest.Configuration(
            workerBinary: try workerBinary(), amqp: amqp,
            amqpURL: BrokerSettings.url(flag: broker.url, environment: ProcessInfo.processInfo.environment),
            topology: topology, store: storeLocation, logFolder: folder.appendingPathComponent("logs"),
            idPrefix: runID.uppercased())
        if let schedule = try openLoopSchedule() {
            configuration.openLoop = schedule
            configuration.parcels = schedule.count
        } else if let seconds = try closedLoopDuration() {
            configuration.submitFor = .seconds(seconds)
            // What kill intervals are checked against: the parcels such a run is likely to submit.
            configuration.parcels = Int(seconds * KillPlan.roughParcelsPerSecond)
        } else {
            configuration.parcels = parcels ?? 2000
        }
        configuration.soakInterval = .seconds(try soakInterval())
        configuration.workers = workers
        configuration.concurrency = concurrency
        configuration.workerArguments = [
            "--stage-time", stageTime, "--transient-rate", "\(transientRate)",
            "--permanent-rate", "\(permanentRate)", "--hold-rate", "\(holdRate)", "--max-attempts", "\(maxAttempts)",
            "--shutdown-timeout", "10", "--exit-with-parent",
        ]
        configuration.killWorkerEvery = killWorkerEvery.map { .seconds($0) }
        configuration.kills = kills
        // Chaos asked for at a time the run is unlikely to reach: said now (the verdict fails if it does not happen).
        let faults = [("--restart-broker-at", restartBrokerAt), ("--stop-node-at", stopNodeAt),
                      ("--rolling-restart-at", rollingRestartAt), ("--isolate-node-at", isolateNodeAt),
                      ("--split-node-at", splitNodeAt), ("--isolate-worker-at", isolateWorkerAt)].compactMap { flag, at in at.map { (flag: flag, at: Duration.seconds($0)) } }
        for warning in KillPlan.warnings(parcels: configuration.parcels, plan: KillPlan(every: configuration.killWorkerEvery, count: kills),
                                         faults: faults) {
            Terminal.error("parcelctl loadtest: warning: \(warning)")
        }
        if let at = restartBrokerAt {
            let script = try brokerScriptPath()
            configuration.restartBrokerAt = .seconds(at)
            let node = brokerNode.map { ["--name", $0] } ?? []
            configuration.brokerStop = [script, "stop"] + node
            configuration.brokerStart = [script, "start"] + node
        }
        if let at = stopNodeAt {
            configuration.clusterFault = .stopNode(at: .seconds(at), startAt: startNodeAt.map { .seconds($0) })
        } else if let at = rollingRestartAt {
            configuration.clusterFault = .rollingRestart(at: .seconds(at))
        } else if let (partition, at) = try partition(), let healAt {
            configuration.clusterFault = .partition(partition, at: .seconds(at), healAt: .seconds(healAt))
        }
        configuration.workerHosts = parsedWorkerHosts()
        if configuration.clusterFault != nil || !configuration.workerHosts.isEmpty {
            configuration.brokerScript = try brokerScriptPath()
        }
        configuration.httpStages = try parsedHTTPStages()
        configuration.handover = HandoverServer.Behaviour(faultRate: httpFaultRate, delay: try parsedHTTPDelay())
        configuration.timeout = .seconds(timeout)

        if let ramp = try rampPlan() {
            return try await runRamp(ramp, base: configuration, own: own, folder: folder)
        }
        let bar = ProgressBar(label: "final")
        // Off a terminal (a log, CI), a line every few seconds instead of the bar.
        let lines = Terminal.standardErrorIsTerminal || json ? nil : ProgressLines()
        let report: LoadTestReport
        let running = Task { [configuration] in
            try await LoadTest(configuration).run { progress in
                bar.update(progress.final, of: progress.total)
                lines?.update(progress)
            }
        }
        // SIGINT or SIGTERM ends the run as a failure would: workers stopped, stopped nodes started.
        // The first SIGINT or SIGTERM ends the run as a failure would (workers stopped, any stopped
        // node started again); a second exits at once with 130.
        let interruption = SignalEscalation(first: {
            Terminal.error("parcelctl loadtest: stopping (starting any stopped node again; a second signal exits at once)")
            running.cancel()
        })
        defer { interruption.stop() }
        do {
            report = try await running.value
        } catch {
            bar.finish()
            if !keep {
                try? FileManager.default.removeItem(at: folder)
                if own, interruption.happened {
                    try? await broker.withConnection(name: "parcelctl loadtest cleanup") { connection in
                        try await topology.delete(on: try await connection.openChannel())
                    }
                }
            }
            if interruption.happened {
                Terminal.error("parcelctl loadtest: interrupted; the workers were stopped and no node was left stopped")
                throw ExitCode(130)
            }
            throw CommandFailure("the load test could not run: \(error)")
        }
        bar.finish()
        if !keep {
            if own {
                try? await broker.withConnection(name: "parcelctl loadtest cleanup") { connection in
                    try await topology.delete(on: try await connection.openChannel())
                }
            }
            if report.passed {
                try? FileManager.default.removeItem(at: folder)
            } else {
                // What went wrong is in the workers' logs: keep them, and say where.
                FileHandle.standardError.write(Data("parcelctl loadtest: the verdict failed; the workers' logs are kept in \(folder.path)/logs\n".utf8))
            }
        }
        if json {
            var object = report.json
            if keep, case .object(var members) = object {
                members["kept"] = Self.keptJSON(store: storeLocation, namespace: topology.namespace)
                object = .object(members)
            }
            print(object.serialized(pretty: true))
        } else {
            print(report.lines.joined(separator: "\n"))
            if keep { print("Kept: namespace \(topology.namespace), store \(storeLocation), worker logs in \(folder.path)/logs") }
        }
        if !report.passed { throw ExitCode(1) }
    }

    private func parsedHTTPStages() throws -> [Stage] {
        guard let httpStages else { return [] }
        var stages: [Stage] = []
        for name in httpStages.split(separator: ",") {
            guard let stage = Stage(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--http-stages: '\(TerminalText.escaped(String(name.prefix(40))))' is not a stage "
                    + "(collection, packaging, inspection, delivery)")
            }
            if !stages.contains(stage) { stages.append(stage) }
        }
        guard !stages.isEmpty else { throw ValidationError("--http-stages needs at least one stage") }
        return stages
    }

    private func parsedHTTPDelay() throws -> Duration {
        let text = httpDelay.trimmingCharacters(in: .whitespaces)
        if ["0", "0ms", "0s"].contains(text) { return .zero }
        guard let delay = ParcelTopology.parseDelays(text)?.first, delay <= .seconds(60) else {
            throw ValidationError("--http-delay: give a time up to 60s, such as 5ms")
        }
        return delay
    }

    /// `parcel-worker` beside this `parcelctl`.
    private func workerBinary() throws -> URL {
        let own = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let worker = own.deletingLastPathComponent().appendingPathComponent("parcel-worker")
        guard FileManager.default.isExecutableFile(atPath: worker.path) else {
            throw CommandFailure("parcel-worker is not beside parcelctl (\(worker.path)); build both (swift build)")
        }
        return worker
    }

    /// The partition asked for, and when.
    private func partition() throws -> (Partition, Double)? {
        if let at = isolateNodeAt { return (.isolateNode, at) }
        if let at = splitNodeAt { return (.splitNode, at) }
        if let at = isolateWorkerAt {
            guard let host = parsedWorkerHosts().first else { throw ValidationError("--isolate-worker-at needs --worker-hosts") }
            return (.isolateWorkerHost(host), at)
        }
        return nil
    }

    private func parsedWorkerHosts() -> [String] {
        (workerHosts ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private func validatePartition() throws {
        if workerHosts != nil {
            let names = parsedWorkerHosts()
            guard !names.isEmpty else { throw ValidationError("--worker-hosts names no host") }
            if let bad = names.first(where: { name in !name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } }) {
                throw ValidationError("--worker-hosts: '\(TerminalText.escaped(Echo.value(bad)))' is not a host name (letters, digits and '-')")
            }
            guard workers > 0 else { throw ValidationError("--worker-hosts \(names.joined(separator: ",")) needs workers the test starts (--workers 1 or more)") }
        }
        guard let (_, at) = try partition() else {
            if healAt != nil { throw ValidationError("--heal-at needs --isolate-node-at, --split-node-at or --isolate-worker-at") }
            return
        }
        guard let healAt else {
            throw ValidationError("a partition needs --heal-at: when to heal it (a partition left in place is not a test)")
        }
        guard healAt > at else { throw ValidationError("--heal-at must be later than the partition's start (\(at) s)") }
    }

    private func brokerScriptPath() throws -> String {
        let path = brokerScript ?? ProcessInfo.processInfo.environment["PARCELFLOW_BROKER_SCRIPT"] ?? "deploy/local/broker.sh"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw CommandFailure("stopping broker nodes needs the broker's script: \(path) is not there "
                + "(give --broker-script or PARCELFLOW_BROKER_SCRIPT)")
        }
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }
}

/// Progress as a line every 2 seconds, for output that is not a terminal.
final class ProgressLines: Sendable {
    private let last = Mutex(ContinuousClock.now)

    func update(_ progress: LoadTest.Progress) {
        let due = last.withLock { last -> Bool in
            guard ContinuousClock.now - last >= .seconds(2) else { return false }
            last = ContinuousClock.now
            return true
        }
        if due {
            Terminal.error("  \(Terminal.count(progress.queued)) queued, \(Terminal.count(progress.final)) of "
                + "\(Terminal.count(progress.total)) final after \(Terminal.seconds(progress.elapsed))")
        }
    }
}
