import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import Logging
import ParcelStores
import Synchronization

/// A load test: workers started (or already running), parcels submitted, every parcel followed to a
/// final state while chaos is injected, then a verdict from the store and the broker.
///
/// `seconds` runs from the first submit publish to the moment the last parcel became final (the
/// store's own time), with the workers already started and consuming.
public struct LoadTest: Sendable {
    public struct Configuration: Sendable {
        public var parcels = 2000
        /// When set, a closed-loop run submits for this long rather than `parcels` (``SoakFeed``): batches
        /// keep a bounded backlog queued, then the run drains.
        public var submitFor: Duration?
        /// The soak's interval (``SoakReport``): parcels final, memory, CPU and the store's size each.
        public var soakInterval: Duration = .seconds(1)
        /// When set, parcels are submitted on this schedule (open loop) rather than as fast as confirmed,
        /// and measured from their due times; `parcels` is the schedule's count.
        public var openLoop: SendSchedule?
        /// Workers to start; 0 uses running ones (which must serve `topology` and `store`).
        public var workers = 2
        /// Tasks in flight per worker (passed as --concurrency).
        public var concurrency = 200
        /// Further `parcel-worker` arguments: stage time, faults, attempts.
        public var workerArguments: [String] = []
        public var workerBinary: URL
        /// parcelctl's own connections, and the URL the workers get.
        public var amqp: AMQPConfiguration
        public var amqpURL: String
        public var topology: ParcelTopology
        /// The store the workers and the verdict use: SQLite or PostgreSQL alike.
        public var store: StoreLocation
        public var killWorkerEvery: Duration?
        /// Worker kills asked for in all (``KillPlan``): alone spread over the run by its progress, with
        /// `killWorkerEvery` one every interval, the run held open until all happened.
        public var kills: Int?
        public var restartBrokerAt: Duration?
        /// The commands that stop and start the broker node, for `restartBrokerAt`.
        public var brokerStop: [String] = []
        public var brokerStart: [String] = []
        /// A cluster node stopped, or every node restarted, through `brokerScript` (``ClusterChaos``).
        public var clusterFault: ClusterFault?
        public var brokerScript: String?
        /// Hosts of the broker script's (`exec HOST --`) the workers run on, in turn; none: here.
        public var workerHosts: [String] = []
        /// What the recovery probe publishes through: a channel of its own by default.
        public var probePublisher: ConfirmedPublisherFactory = ChannelPublisher.open
        /// Stages whose work the HTTP handler does, against a ``HandoverServer`` the run starts.
        public var httpStages: [Stage] = []
        /// How that server answers: its fault rate and delay.
        public var handover = HandoverServer.Behaviour()
        public var timeout: Duration = .seconds(600)
        public var logFolder: URL
        /// Parcel ids are PREFIX-000001…: unique per run, so a shared store never sees one twice.
        public var idPrefix: String

        public init(workerBinary: URL, amqp: AMQPConfiguration, amqpURL: String, topology: ParcelTopology,
                    store: StoreLocation, logFolder: URL, idPrefix: String) {
            self.workerBinary = workerBinary
            self.amqp = amqp
            self.amqpURL = amqpURL
            self.topology = topology
            self.store = store
            self.logFolder = logFolder
            self.idPrefix = idPrefix
        }
    }

    /// How far a run is: parcels queued (confirmed by the broker) and final, of all.
    public struct Progress: Sendable {
        public var queued: Int
        public var final: Int
        public var total: Int
        public var elapsed: Duration
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    public func run(progress: @escaping @Sendable (Progress) -> Void = { _ in }) async throws -> LoadTestReport {
        let config = configuration
        var storeLogger = Logger(label: "parcelflow.loadtest")
        storeLogger.logLevel = .warning
        let store = try await StatusStores.open(config.store, logger: storeLogger)
        let setup = try await AMQPConnection.connect(config.amqp)
        try await config.topology.declare(on: try await setup.openChannel())
        await setup.close()

        // Before the workers: the node to stop is chosen by the stage queues' leaders, and the probe
        // is publishing to it.
        var cluster: ClusterChaos?
        if let fault = config.clusterFault, let script = config.brokerScript {
            cluster = try await ClusterChaos.prepare(
                fault, script: BrokerScript(path: script, log: config.logFolder.appendingPathComponent("chaos.log")),
                amqp: config.amqp, topology: config.topology, probePublisher: config.probePublisher)
        }

        // The service the HTTP stages call: up before the workers, down after them.
        var handover: HandoverServer?
        var handlers: [String] = []
        if !config.httpStages.isEmpty {
            let server = try await HandoverServer.start(behaviour: config.handover)
            handover = server
            handlers = config.httpStages.flatMap { ["--handler", "\($0)=http:\(server.url)"] }
        }
        let fleet = WorkerFleet(.init(
            binary: config.workerBinary,
            arguments: ["--concurrency", "\(config.concurrency)"] + config.workerArguments + handlers,
            environment: ["PARCELFLOW_AMQP_URL": config.amqpURL, "PARCELFLOW_STORE": config.store.environmentValue,
                          "PARCELFLOW_NAMESPACE": config.topology.namespace,
                          "PARCELFLOW_RETRY_DELAYS": config.topology.retryDelays.map(ParcelTopology.delayName).joined(separator: ",")],
            logFolder: config.logFolder,
            hosts: config.workerHosts.map { host in [config.brokerScript ?? "deploy/local/netns.sh", "exec", host, "--"] }))
        do {
            for _ in 0..<config.workers { try fleet.start() }
            try await fleet.waitUntilWorking(timeout: .seconds(60))
        } catch {
            await Task.detached { [cluster, handover] in
                await fleet.stop()
                await cluster?.finish()
                await handover?.stop()
            }.value
            throw error
        }

        // A run for a time makes its parcels as it goes (``SoakFeed``).
        let feed = config.submitFor.map { SoakFeed(length: $0, idPrefix: config.idPrefix, backlog: SoakFeed.backlog(config)) }
        var parcels = feed == nil
            ? ParcelGenerator(seed: UInt64.random(in: 0...UInt64.max), idPrefix: config.idPrefix).parcels(config.parcels) : []
        // The run's nodes only (those of the URL list), when they can be told apart from others.
        let brokerCPU = CPUUsage(of: "beam.smp", ports: Set(config.amqp.endpoints.map(\.port)))
        let ownCPU = ProcessStats.current?.cpuSeconds ?? 0
        let started = Date()
        let clock = ContinuousClock.now
        let chaos = Chaos(config, fleet: fleet, cluster: cluster)
        let chaosTask = Task { await chaos.run(from: clock) }

        let submitted = Submitted()
        let openLoop = config.openLoop.map(OpenLoop.init(schedule:))
        let submitting = Task { [parcels] in
            if let feed {
                return try await feed.run(submitted) { batch, offset in
                    try await submit(batch, to: store, progress: submitted, offset: offset)
                }
            }
            if let openLoop {
                let publisher = ReconnectingPublisher(configuration: config.amqp, resendWithin: .seconds(30))
                defer { Task { await publisher.close() } }
                try await openLoop.submit(parcels, publisher: publisher, store: store, topology: config.topology, progress: submitted)
            } else {
                try await submit(parcels, to: store, progress: submitted)
            }
            return parcels
        }
        // An open-loop run's timeout starts when its last parcel is due.
        let deadline = clock + config.timeout + (openLoop?.schedule.length ?? config.submitFor ?? .zero)
        var tally = FinalTally(idPrefix: config.idPrefix + "-")
        var soak = SoakSampler(intervalSeconds: KillPlan.value(config.soakInterval), cpuSeconds: ownCPU)
        do {
            while ContinuousClock.now < deadline {
                // A run for a time knows its total once its feed has stopped.
                let total = feed == nil ? parcels.count : submitted.total
                let finals = try await tally.poll(store, total: total)
                feed?.noteFinal(finals)
                cluster?.noteFinal(finals)
                chaos.killed.noteFinal(finals)
                fleet.sample()
                brokerCPU.sample()
                let elapsed = ContinuousClock.now - clock
                progress(Progress(queued: submitted.value, final: finals, total: total ?? submitted.value, elapsed: elapsed))
                if let total, finals >= total, !chaos.holdsRunOpen { break }
                // The run's last interval closes after the loop.
                if soak.due(at: KillPlan.value(elapsed)) {
                    await sampleSoak(&soak, at: elapsed, final: finals, fleet: fleet, store: store)
                }
                // Polling does not set the time measured (the store has when each parcel became final);
                // kills that follow the run's progress need it read often.
                try await Task.sleep(for: chaos.followsProgress ? .milliseconds(50) : .milliseconds(250))
            }
        } catch {
            // Interrupted, or the store failed: no node is left stopped, no worker running (waited for
            // outside this cancelled task, whose sleeps would return at once).
            submitting.cancel()
            chaosTask.cancel()
            await Task.detached { [cluster, handover] in
                await chaosTask.value
                await cluster?.finish()
                await fleet.stop()
                await handover?.stop()
            }.value
            throw error
        }
        let finals = tally.count
        await sampleSoak(&soak, at: ContinuousClock.now - clock, final: finals, fleet: fleet, store: store)
        if feed == nil { submitting.cancel() }
        chaosTask.cancel()
        await chaosTask.value  // a broker restart under way finishes first
        chaos.finish(runSeconds: KillPlan.value(ContinuousClock.now - clock), parcels: parcels.count)
        if let fed = try? await submitting.value, feed != nil { parcels = fed }
        // A node still stopped starts before the verdict reads the queues.
        await cluster?.finish()
        let clusterReport = cluster?.report

        brokerCPU.sample()
        let brokerCPUUsed = brokerCPU.seconds
        let ownCPUUsed = (ProcessStats.current?.cpuSeconds ?? 0) - ownCPU
        // Only this run's parcels: a store shared with running workers may hold others.
        let audit = try await store.audit(idPrefix: config.idPrefix + "-")
        let openLoopReport = try await openLoop?.report(parcelIDs: parcels.map(\.id), store: store)
        let counts = audit.counts
        let snapshot = try await store.snapshot(period: DateInterval(start: started, end: Date().addingTimeInterval(60)),
                                                recentSince: Date())
        let queues = await settledQueues()
        fleet.sample()
        let usage = fleet.usage
        let exits = await fleet.stop()
        var handoverReport: LoadTestReport.Handover?
        if let handover {
            handoverReport = try await LoadTestReport.Handover.check(
                server: handover, stages: config.httpStages, faultRate: config.handover.faultRate,
                parcelIDs: parcels.map(\.id), store: store)
            await handover.stop()
        }
        await store.close()

        // From the first publish (recording the first parcels as submitted, before it, is not counted).
        let seconds = max(0.001, (audit.lastFinalAt ?? Date()).timeIntervalSince(submitted.firstPublishAt ?? started))
        var report = LoadTestReport(
            parcels: parcels.count, counts: counts, audit: audit, snapshot: snapshot, queues: queues, seconds: seconds,
            workers: config.workers, concurrency: config.concurrency, kills: fleet.kills, workerKills: chaos.killed.all,
            brokerRestarts: chaos.restarts,
            cpu: .init(workers: usage.cpuSeconds, broker: brokerCPUUsed, parcelctl: ownCPUUsed,
                       storeWriting: fleet.storeSeconds, storeTransactions: fleet.storeTransactions, wall: seconds),
            workerPeakResidentBytes: usage.peakResidentBytes,
            workerExits: exits, workerCrashes: fleet.crashes, chaosFailures: chaos.failures + (clusterReport?.failures ?? []),
            nodeRestarts: clusterReport?.restarts ?? [], probeUsualGapSeconds: clusterReport?.usualProbeGap,
            handover: handoverReport)
        report.openLoop = openLoopReport
        report.soak = soak.report()
        report.redelivered = fleet.redelivered
        return report
    }

    /// Submits until every parcel is confirmed queued, through broker restarts: a parcel whose publish
    /// failed stays `submitted` in the store, and the next attempt publishes it again.
    /// `offset`: parcels of the run confirmed before these (a run for a time submits batch by batch).
    private func submit(_ parcels: [Parcel], to store: any StatusStore, progress: Submitted, offset: Int = 0) async throws {
        var remaining = parcels
        let publisher = ReconnectingPublisher(configuration: configuration.amqp, resendWithin: .seconds(30))
        defer { Task { await publisher.close() } }
        while !remaining.isEmpty, !Task.isCancelled {
            do {
                let before = offset + parcels.count - remaining.count
                // Chunks of 1,000, four in flight: a quarter of the default's store transactions, each
                // commit writing its pages once for four times the parcels.
                let report = try await ParcelSubmitter(publisher: publisher, store: store, topology: configuration.topology,
                                                       chunkSize: 1_000, window: 4_000, publishing: progress.publishing)
                    .submit(remaining) { done, _ in progress.set(before + done) }
                let failed = Set(report.failed.map(\.id))
                remaining = remaining.filter { failed.contains($0.id) }
                if !remaining.isEmpty { try await Task.sleep(for: .milliseconds(250)) }
            } catch {
                try await Task.sleep(for: .milliseconds(250))
            }
            progress.set(offset + parcels.count - remaining.count)
        }
    }

    /// Closes the soak's interval under way with this moment's readings.
    private func sampleSoak(_ soak: inout SoakSampler, at elapsed: Duration, final: Int, fleet: WorkerFleet,
                            store: any StatusStore) async {
        let own = ProcessStats.current
        soak.close(at: KillPlan.value(elapsed), final: final, workerResidentBytes: fleet.residentBytes,
                   residentBytes: own?.residentBytes ?? 0, cpuSeconds: own?.cpuSeconds ?? 0,
                   storeBytes: await StatusStores.bytes(configuration.store, store: store))
    }

    /// The stage and retry queues once empty (waiting a little for redeliveries of settled work to be
    /// acknowledged), and the dead-letter queue's depth.
    private func settledQueues() async -> LoadTestReport.Queues {
        var result = LoadTestReport.Queues(readable: false, leftInWorkQueues: [:], deadLetters: 0)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, !Task.isCancelled {
            if let connection = try? await AMQPConnection.connect(configuration.amqp) {
                var left: [String: Int] = [:]
                var deadLetters = 0
                var readable = true
                if let channel = try? await connection.openChannel() {
                    for queue in configuration.topology.queues {
                        guard let state = try? await channel.queueState(queue.name) else { readable = false; break }
                        if queue.name == configuration.topology.deadQueue {
                            deadLetters = state.messageCount
                        } else if state.messageCount > 0 {
                            left[queue.name] = state.messageCount
                        }
                    }
                } else {
                    readable = false
                }
                await connection.close()
                result = .init(readable: readable, leftInWorkQueues: left, deadLetters: deadLetters)
                if readable, left.isEmpty { return result }
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return result
    }
}

/// How far submitting has come: parcels confirmed queued, and when the first task was published.
final class Submitted: Sendable {
    private let count = Atomic<Int>(0)
    private let firstPublish = Mutex<Date?>(nil)

    func set(_ value: Int) { count.store(value, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }

    func publishing() { firstPublish.withLock { $0 = $0 ?? Date() } }
    var firstPublishAt: Date? { firstPublish.withLock { $0 } }

    /// A run for a time's parcels in all, once its feed stopped (``SoakFeed``); nil before.
    private let fedTotal = Mutex<Int?>(nil)
    func setTotal(_ total: Int) { fedTotal.withLock { $0 = total } }
    var total: Int? { fedTotal.withLock { $0 } }
}

/// The faults a run injects: a worker killed every few seconds, the broker stopped and started once,
/// cluster nodes stopped (``ClusterChaos``).
final class Chaos: Sendable {
    let configuration: LoadTest.Configuration
    let fleet: WorkerFleet
    let cluster: ClusterChaos?
    private let restartCount = Atomic<Int>(0)
    private let restartBegan = Atomic<Bool>(false)
    private let failed = Mutex<[String]>([])
    /// Worker kills (``KillPlan``), as they happened.
    let killed = WorkerKillLog()
    let killPlan: KillPlan?

    init(_ configuration: LoadTest.Configuration, fleet: WorkerFleet, cluster: ClusterChaos? = nil) {
        self.configuration = configuration
        self.fleet = fleet
        self.cluster = cluster
        killPlan = KillPlan(every: configuration.killWorkerEvery, count: configuration.kills)
    }

    /// Kills asked for and not yet made keep the run open after its last parcel (``KillPlan/holdsRunOpen``),
    /// and so does a partition not yet healed (``ClusterChaos/holdsRunOpen``).
    var holdsRunOpen: Bool {
        if cluster?.holdsRunOpen == true { return true }
        guard let killPlan, killPlan.holdsRunOpen else { return false }
        return killed.all.count < killPlan.asked
    }

    /// Kills are due by the run's progress, and some are still to come.
    var followsProgress: Bool {
        guard let killPlan, killPlan.every == nil else { return false }
        return killed.all.count < killPlan.asked
    }

    /// After the run (``run(from:)`` ended): the kills and the broker restart asked for and not made
    /// are chaos failures.
    func finish(runSeconds: Double, parcels: Int) {
        var missing = killPlan?.failures(made: killed.all.count, runSeconds: runSeconds, parcels: parcels) ?? []
        if let at = configuration.restartBrokerAt, !restartBegan.load(ordering: .relaxed) {
            missing.append("the run ended after \(KillPlan.seconds(runSeconds)), before --restart-broker-at "
                + "\(KillPlan.seconds(at)): the broker was not restarted")
        }
        failed.withLock { $0 += missing }
    }

    /// Broker restarts that happened: both the stop and the start command succeeded.
    var restarts: Int { restartCount.load(ordering: .relaxed) }

    /// Chaos that was asked for and could not be injected (a run without it proves less).
    var failures: [String] { failed.withLock { $0 } }

    func run(from started: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            if let cluster {
                group.addTask { await cluster.run(from: started) }
            }
            if let killPlan {
                group.addTask {
                    await self.killed.run(killPlan, fleet: self.fleet, parcels: self.configuration.parcels, from: started)
                }
            }
            if let at = configuration.restartBrokerAt {
                group.addTask {
                    try? await Task.sleep(for: at)
                    if Task.isCancelled { return }
                    self.restartBegan.store(true, ordering: .relaxed)
                    // Not cancellable once begun: a broker left stopped would fail everything after.
                    for command in [self.configuration.brokerStop, self.configuration.brokerStart] {
                        let status = await Self.runCommand(command)
                        guard status == 0 else {
                            self.failed.withLock {
                                $0.append("the broker restart failed: `\(command.joined(separator: " "))` exited with status \(status)")
                            }
                            return
                        }
                    }
                    self.restartCount.add(1, ordering: .relaxed)
                }
            }
        }
    }

    /// Runs a command to its end; its exit status.
    static func runCommand(_ command: [String]) async -> Int32 {
        await BrokerScript.execute(command, log: nil).status
    }
}
