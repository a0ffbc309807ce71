import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import Synchronization

/// The cluster fault a load test injects (``ClusterChaos``).
public enum ClusterFault: Sendable, Hashable {
    /// Stop the node leading most stage queues at `at`; start it at `startAt`, else after the run.
    case stopNode(at: Duration, startAt: Duration?)
    /// Restart every node one by one, from `at`.
    case rollingRestart(at: Duration)
    /// Cut a host off the network at `at`, its processes still running, and heal it at `healAt`.
    case partition(Partition, at: Duration, healAt: Duration)
}

/// What a ``ClusterFault/partition(_:at:healAt:)`` cuts, through the broker script's `isolate TARGET`,
/// `split NODE` and `heal TARGET` (`deploy/local/netns.sh`: the cluster on network namespaces).
public enum Partition: Sendable, Hashable {
    /// The node leading most stage queues loses its link: nobody reaches it, it reaches nobody.
    case isolateNode
    /// The node leading most stage queues cannot reach the other nodes; clients still reach it (the
    /// cluster's minority: with `pause_minority` it pauses and closes its clients' connections).
    case splitNode
    /// The host a worker runs on (the script's host name) loses its link to everything.
    case isolateWorkerHost(String)

    /// The script's verb and its target (a node's name, or a host's), to cut; `heal TARGET` undoes it.
    func cut(node: String?) -> [String] {
        switch self {
        case .isolateNode: ["isolate", BrokerScript.shortName(node ?? "")]
        case .splitNode: ["split", BrokerScript.shortName(node ?? "")]
        case .isolateWorkerHost(let host): ["isolate", host]
        }
    }

    func heal(node: String?) -> [String] { ["heal"] + cut(node: node).dropFirst() }

    /// Whether it cuts a broker node off (not a worker's host).
    var cutsANode: Bool {
        if case .isolateWorkerHost = self { return false }
        return true
    }

    /// How the report names it.
    var name: String {
        switch self {
        case .isolateNode: "isolated"
        case .splitNode: "split from the others"
        case .isolateWorkerHost: "isolated (a worker's host)"
        }
    }
}

/// Cluster nodes stopped or cut off under load, through the broker script: the node leading most of
/// the run's stage queues stopped at a time and started again, or every node restarted one after
/// another, or a partition (``Partition``) cut and healed. The recovery probe measures how long each
/// held up confirmed publishing.
///
/// 1. Before the workers start: the script names the nodes (`cluster nodes`), each matched to its URL
///    in the run's list, and the stage queues' leaders (`cluster leaders`); the probe aims at the
///    node to be stopped.
/// 2. At `stopNodeAt`: `stop --name NODE`; at `startNodeAt`: `start --name NODE`, then `cluster
///    status` until the cluster is whole again. A rolling restart does stop, start and that wait for
///    each node in turn, the probe moved to each node before its stop.
/// 3. ``finish()`` (after the run, on every path out of it): a node still stopped is started, so none is
///    left stopped; the probe stops; what was asked for and not done is a chaos failure. ``report``
///    then reads the probe's pause across each stop.
final class ClusterChaos: Sendable {

    /// A node: its Erlang name and its place in the run's URL list.
    struct Node: Sendable, Hashable {
        let name: String
        let endpoint: Int
    }

    /// One node's stop and start, as it happened.
    private struct Restart {
        var node: String
        var stageQueuesLed: Int?
        var stopBegan: ContinuousClock.Instant
        var stopEnded: ContinuousClock.Instant?
        var startBegan: ContinuousClock.Instant?
        var back: ContinuousClock.Instant?
        var finalAtStop: Int
        /// A partition's cut and heal, not a stop and start.
        var partition: Partition? = nil
    }

    private struct State {
        var restarts: [Restart] = []
        /// Nodes whose stop command ran and that were not started again since.
        var stopped: Set<String> = []
        var failures: [String] = []
        var probeTask: Task<Void, Never>?
        var runStarted: ContinuousClock.Instant?
        /// ``run(from:)`` has returned: every step it was to take is taken (or it was cancelled).
        var runEnded = false
        var finished = false
    }

    let fault: ClusterFault
    let script: BrokerScript
    let nodes: [Node]
    /// The node to stop (`stopNode`), with the number of stage queues it led when chosen.
    let victim: (node: Node, led: Int)?
    let probe: RecoveryProbe
    private let finals = Atomic<Int>(0)
    private let state = Mutex(State())

    private init(fault: ClusterFault, script: BrokerScript, nodes: [Node], victim: (node: Node, led: Int)?,
                 probe: RecoveryProbe) {
        self.fault = fault
        self.script = script
        self.nodes = nodes
        self.victim = victim
        self.probe = probe
    }

    /// Finds the nodes and the node to stop, and starts the probe (aimed at that node).
    static func prepare(_ fault: ClusterFault, script: BrokerScript, amqp: AMQPConfiguration, topology: ParcelTopology,
                        probePublisher: @escaping ConfirmedPublisherFactory = ChannelPublisher.open) async throws -> ClusterChaos {
        let listed = try await script.nodes()
        let nodes = try listed.map { node, url in
            guard let index = try Self.endpointIndex(of: url, in: amqp.endpoints) else {
                throw LoadTestError("the cluster's node \(node) (\(try AMQPEndpoint(url: url))) is not in the URL list: "
                    + "give every node's URL with --url or PARCELFLOW_AMQP_URL")
            }
            return Node(name: node, endpoint: index)
        }
        guard nodes.count >= 2 else {
            throw LoadTestError("`\(script.path) cluster nodes` named \(nodes.count) node(s); a cluster has 2 or more")
        }
        var victim: (node: Node, led: Int)?
        if fault.cutsTheBusiestNode {
            let stageQueues = Stage.allCases.map(topology.stageQueue)
            let leaders = try await script.leaders()
            guard let busiest = Self.busiestLeader(leaders: leaders, stageQueues: stageQueues, nodes: nodes.map(\.name)),
                  let node = nodes.first(where: { $0.name == busiest.node })
            else {
                throw LoadTestError("`\(script.path) cluster leaders` named no leader for the stage queues "
                    + stageQueues.joined(separator: ", "))
            }
            victim = (node, busiest.count)
        }
        let chaos = ClusterChaos(fault: fault, script: script, nodes: nodes, victim: victim,
                                 probe: RecoveryProbe(configuration: amqp, namespace: topology.namespace, open: probePublisher))
        chaos.state.withLock { $0.probeTask = Task { await chaos.probe.run() } }
        if let victim {
            do {
                try await chaos.probe.aim(at: victim.node.endpoint)
            } catch {
                await chaos.finish()
                throw LoadTestError("the recovery probe could not publish to a queue led by \(victim.node.name): \(error)")
            }
        }
        return chaos
    }

    /// The node leading most of `stageQueues` (the first of `nodes` on a tie), and how many it leads.
    static func busiestLeader(leaders: [String: String], stageQueues: [String],
                              nodes: [String]) -> (node: String, count: Int)? {
        let led = stageQueues.compactMap { leaders[$0] }
        let counts = nodes.map { node in led.filter { $0 == node }.count }
        guard let most = counts.max(), most > 0, let index = counts.firstIndex(of: most) else { return nil }
        return (nodes[index], most)
    }

    /// Where `url` (a node's URL from the script) is in `endpoints`: the same port, and the same host
    /// or both loopback (the script may say 127.0.0.1 where the list says localhost).
    static func endpointIndex(of url: String, in endpoints: [AMQPEndpoint]) throws -> Int? {
        let node = try AMQPEndpoint(url: url)
        let loopback: Set<String> = ["127.0.0.1", "localhost", "::1"]
        return endpoints.firstIndex { endpoint in
            endpoint.port == node.port
                && (endpoint.host == node.host || (loopback.contains(endpoint.host) && loopback.contains(node.host)))
        }
    }

    /// A partition keeps the run open, after its last parcel, until it is healed and the cluster whole
    /// again: the verdict then reads the queues as the heal left them (a split outlived the parcels
    /// that the majority carried on with).
    var holdsRunOpen: Bool {
        guard case .partition = fault else { return false }
        return !state.withLock { $0.runEnded }
    }

    /// Parcels final so far, from the run's progress: recorded with each stop (under load or not).
    func noteFinal(_ count: Int) { finals.store(count, ordering: .relaxed) }

    /// Injects the fault, from `started` (the run's start); cancelled when the run ends, it finishes
    /// the stop or restart under way and leaves the rest to ``finish()``.
    func run(from started: ContinuousClock.Instant) async {
        state.withLock { $0.runStarted = started }
        defer { state.withLock { $0.runEnded = true } }
        switch fault {
        case .stopNode(let at, let startAt):
            guard let victim, await Self.sleep(until: started + at) else { return }
            await uncancelled { await self.stop(victim.node.name, led: victim.led) }
            guard let startAt, await Self.sleep(until: started + startAt) else { return }
            await uncancelled { await self.start(victim.node.name) }
        case .partition(let partition, let at, let healAt):
            guard await Self.sleep(until: started + at) else { return }
            let node = victim?.node.name
            await uncancelled { await self.cut(partition, node: node, led: self.victim?.led) }
            guard await Self.sleep(until: started + healAt) else { return }
            await uncancelled { await self.heal(partition, node: node) }
        case .rollingRestart(let at):
            guard await Self.sleep(until: started + at) else { return }
            for node in nodes where !Task.isCancelled {
                await uncancelled {
                    do {
                        try await self.probe.aim(at: node.endpoint)
                    } catch {
                        self.fail("the recovery probe could not publish to a queue led by \(node.name): \(error)")
                    }
                    await self.stop(node.name, led: nil)
                    await self.start(node.name)
                }
            }
        }
    }

    /// Starts every node still stopped, waits until the cluster is whole, stops the probe and deletes
    /// its queues; notes what was asked for and not done. Once: later calls return at once.
    func finish() async {
        let (first, stillStopped, probeTask, runStarted) = state.withLock { state in
            defer {
                state.finished = true
                state.probeTask = nil
            }
            return (!state.finished, state.stopped, state.probeTask, state.runStarted)
        }
        guard first else { return }
        if case .stopNode(_, let startAt?) = fault, !stillStopped.isEmpty {
            fail("\(stillStopped.sorted().joined(separator: ", ")) was still stopped when the run ended (--start-node-at "
                + "\(Self.seconds(startAt)): the run ended first, or the start failed); it was started after the run")
        }
        if case .partition(let partition, _, let healAt) = fault {
            if !stillStopped.isEmpty {
                fail("\(stillStopped.sorted().joined(separator: ", ")) was still cut off when the run ended (heal at "
                    + "\(Self.seconds(healAt)) s: the run ended first, or the heal failed); it was healed after the run")
                await heal(partition, node: victim?.node.name)
            }
        } else {
            for node in nodes where stillStopped.contains(node.name) { await start(node.name) }
        }
        probeTask?.cancel()
        await probeTask?.value
        await probe.deleteQueues()

        // Started, and what was asked for not done: a run without it proves less.
        guard runStarted != nil else { return }
        let restarted = state.withLock { $0.restarts.count }
        switch fault {
        case .stopNode(let at, _):
            if restarted == 0 { fail("the run ended before --stop-node-at \(Self.seconds(at)): no node was stopped") }
        case .partition(let partition, let at, _):
            if restarted == 0 { fail("the run ended before the partition at \(Self.seconds(at)) s: nothing was \(partition.name)") }
        case .rollingRestart(let at):
            if restarted < nodes.count {
                fail("the run ended before the rolling restart from \(Self.seconds(at)) was done: \(restarted) of "
                    + "\(nodes.count) nodes restarted (submit more parcels, or start it earlier)")
            }
        }
    }

    /// What happened, for the report.
    var report: (restarts: [LoadTestReport.NodeRestart], usualProbeGap: Double?, failures: [String]) {
        let (restarts, runStarted, failures) = state.withLock { ($0.restarts, $0.runStarted, $0.failures) }
        let confirms = probe.confirms
        var lines = failures
        let measured = restarts.map { restart -> LoadTestReport.NodeRestart in
            func at(_ instant: ContinuousClock.Instant?) -> Double? {
                guard let instant, let runStarted else { return nil }
                return Self.seconds(instant - runStarted)
            }
            // The probe publishes to a node: a worker's host cut off holds it up in nothing.
            let probed = restart.partition?.cutsANode ?? true
            let pause = restart.stopEnded.flatMap { probed ? RecoveryProbe.longestPause(confirms, from: restart.stopBegan, to: $0) : nil }
            if pause == nil, probed, restart.stopEnded != nil {
                lines.append("the recovery probe had no confirm before and after \(restart.node) stopped")
            }
            return LoadTestReport.NodeRestart(
                node: restart.node, stageQueuesLed: restart.stageQueuesLed, stageQueues: Stage.allCases.count,
                stoppedAt: at(restart.stopBegan) ?? 0, stopSeconds: restart.stopEnded.map { Self.seconds($0 - restart.stopBegan) },
                startedAt: at(restart.startBegan), backAt: at(restart.back), finalAtStop: restart.finalAtStop,
                recoverySeconds: pause.map(Self.seconds), fault: restart.partition?.name ?? "stopped")
        }
        return (measured, RecoveryProbe.usualGap(confirms).map(Self.seconds), lines)
    }

    // MARK: - Steps

    private func stop(_ node: String, led: Int?) async {
        let began = ContinuousClock.now
        state.withLock { state in
            state.stopped.insert(node)
            state.restarts.append(Restart(node: node, stageQueuesLed: led, stopBegan: began,
                                          finalAtStop: finals.load(ordering: .relaxed)))
        }
        let status = await script.stop(node: node)
        let ended = ContinuousClock.now
        if status == 0 {
            state.withLock { $0.restarts[$0.restarts.count - 1].stopEnded = ended }
        } else {
            fail("`\(script.path) stop --name \(BrokerScript.shortName(node))` exited with status \(status)")
        }
    }

    /// Starts `node`, then waits (up to two minutes) until every node runs as a member of the cluster.
    private func start(_ node: String) async {
        let began = ContinuousClock.now
        state.withLock { state in
            if let last = state.restarts.lastIndex(where: { $0.node == node }) { state.restarts[last].startBegan = began }
        }
        let status = await script.start(node: node)
        guard status == 0 else {
            fail("`\(script.path) start --name \(BrokerScript.shortName(node))` exited with status \(status): the node may be left stopped")
            return
        }
        state.withLock { _ = $0.stopped.remove(node) }
        await waitUntilWhole(after: node)
    }

    /// Waits (up to two minutes) until every node runs as a member of the cluster, and notes when.
    private func waitUntilWhole(after node: String) async {
        let deadline = ContinuousClock.now + .seconds(120)
        while !(await script.clusterIsWhole()) {
            guard ContinuousClock.now < deadline else {
                fail("the cluster was not whole again within 120 s of bringing back \(node) (`\(script.path) cluster status`)")
                return
            }
            _ = await Task.detached { try? await Task.sleep(for: .seconds(1)) }.value
        }
        let back = ContinuousClock.now
        state.withLock { state in
            if let last = state.restarts.lastIndex(where: { $0.node == node }) { state.restarts[last].back = back }
        }
    }

    /// Cuts the partition's host off (the node, or a worker's host), recorded like a stop: the probe's
    /// pause across it is the recovery.
    private func cut(_ partition: Partition, node: String?, led: Int?) async {
        let target = node ?? partition.cut(node: nil).last ?? ""
        let began = ContinuousClock.now
        state.withLock { state in
            state.stopped.insert(target)
            state.restarts.append(Restart(node: target, stageQueuesLed: led, stopBegan: began,
                                          finalAtStop: finals.load(ordering: .relaxed), partition: partition))
        }
        let arguments = partition.cut(node: node)
        let status = await script.run(arguments).status
        let ended = ContinuousClock.now
        if status == 0 {
            state.withLock { $0.restarts[$0.restarts.count - 1].stopEnded = ended }
        } else {
            fail("`\(([script.path] + arguments).joined(separator: " "))` exited with status \(status)")
        }
    }

    /// Heals the partition, then waits (up to two minutes) until the cluster is whole again: a node
    /// that paused as the minority rejoins.
    private func heal(_ partition: Partition, node: String?) async {
        let target = node ?? partition.cut(node: nil).last ?? ""
        let began = ContinuousClock.now
        state.withLock { state in
            if let last = state.restarts.lastIndex(where: { $0.node == target }) { state.restarts[last].startBegan = began }
        }
        let arguments = partition.heal(node: node)
        let status = await script.run(arguments).status
        guard status == 0 else {
            fail("`\(([script.path] + arguments).joined(separator: " "))` exited with status \(status): it may be left cut off")
            return
        }
        state.withLock { _ = $0.stopped.remove(target) }
        await waitUntilWhole(after: target)
    }

    private func fail(_ why: String) { state.withLock { $0.failures.append(why) } }

    /// Runs `body` to its end even when the caller is cancelled: a node left half-way would fail
    /// everything after it.
    private func uncancelled(_ body: @escaping @Sendable () async -> Void) async {
        await Task.detached(operation: body).value
    }

    /// Sleeps until `instant`; false when cancelled first (the run ended).
    private static func sleep(until instant: ContinuousClock.Instant) async -> Bool {
        (try? await Task.sleep(until: instant)) != nil
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

extension ClusterFault {
    /// Whether the fault falls on the node leading most stage queues (the probe aims there).
    var cutsTheBusiestNode: Bool {
        switch self {
        case .stopNode: true
        case .partition(let partition, _, _): partition.cutsANode
        case .rollingRestart: false
        }
    }
}
