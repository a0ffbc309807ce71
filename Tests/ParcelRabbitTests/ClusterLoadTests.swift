import AMQP
import Foundation
@testable import ParcelLoadTest
import ParcelTestSupport
import Synchronization
import Testing

/// What these tests read of the cluster beyond ParcelTestSupport's `TestCluster`: its nodes' processes and
/// states, through the same script. The tests are nested in `OnTheCluster`, which runs them one at a
/// time with the other failover tests, and take turns through `TestCluster.exclusive`.
extension TestCluster {
    /// The process id of each node's Erlang VM now, from the pid file the script's nodes write: a node
    /// stopped and started has a new one.
    static func pids(_ nodes: [String]) -> [String: String] {
        let root = URL(fileURLWithPath: TestNode.script).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var pids: [String: String] = [:]
        for node in nodes {
            let file = root.appendingPathComponent(".local/rabbitmq/\(BrokerScript.shortName(node))/rabbitmq.pid")
            pids[node] = (try? String(contentsOf: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return pids
    }
}

extension OnTheCluster {
@Suite("Load test on a cluster: nodes stopped under load")
struct ClusterLoadTests {
    @Test("2,000 parcels with faults, a worker killed every 2 s, the node leading most stage queues stopped and started again: every parcel final, none lost, none applied twice; recovery measured",
          .timeLimit(.minutes(3)))
    func nodeStoppedUnderLoad() async throws {
        try await TestCluster.exclusive {
            let urls = try TestCluster.urls()
            let nodes = try TestCluster.nodes().map(\.erlangName)
            let before = TestCluster.pids(nodes)
            // The faults of the store figures' run, at a pace the stage time bounds (eight tasks in flight,
            // 10-20 ms each: 16 s at least), so the stop at 2 s and the start at 6 s both come under load.
            let (status, report) = try await loadtest([
                "--parcels", "2000", "--workers", "2", "--concurrency", "4", "--stage-time", "10ms-20ms",
                "--transient-rate", "0.05", "--permanent-rate", "0.005", "--hold-rate", "0.02",
                "--kill-worker-every", "2", "--stop-node-at", "2", "--start-node-at", "6", "--timeout", "120",
            ], url: urls)
            #expect(status == 0, "violations: \(report["violations"] ?? "")")
            #expect(report["ok"] as? Bool == true)
            #expect(report["lost"] as? Int == 0 && report["duplicated"] as? Int == 0)
            #expect(["delivered", "held", "dead_lettered"].compactMap { report[$0] as? Int }.reduce(0, +) == 2000)
            #expect((report["workers_killed"] as? Int ?? 0) >= 1, "no worker was killed")
            #expect((report["chaos_failures"] as? [String]) == [])

            let restarts = try #require(report["node_restarts"] as? [[String: Any]])
            try #require(restarts.count == 1, "\(restarts)")
            let restart = restarts[0]
            let node = try #require(restart["node"] as? String)
            #expect(nodes.contains(node))
            // Four stage queues on three nodes: the busiest leads two at least.
            #expect((restart["stage_queues_led"] as? Int ?? 0) >= 2, "\(restart)")
            #expect((restart["final_at_stop"] as? Int ?? 2000) < 2000, "the node was stopped after the load: \(restart)")
            #expect((restart["started_at_s"] as? Double ?? 0) >= 6)
            #expect(restart["back_at_s"] as? Double != nil)
            // The probe lost its connection and its queue's leader: a pause beyond its usual cadence (20 ms),
            // but not one that lasted the whole stop and start.
            let recovery = try #require(restart["recovery_ms"] as? Double, "no recovery figure: \(restart)")
            let gap = try #require(report["probe_usual_gap_ms"] as? Double)
            #expect(recovery > 2 * gap && recovery < 30_000, "recovery \(recovery) ms against a usual gap of \(gap) ms")
            #expect(report["recovery_ms_max"] as? Double == recovery)
            print("node stop under load: \(node) leading \(restart["stage_queues_led"] ?? "?") stage queues, stopped at "
                + "\(restart["stopped_at_s"] ?? "?") s, started at \(restart["started_at_s"] ?? "?") s; recovery \(recovery) ms "
                + "(usual gap \(gap) ms); \(report["seconds"] ?? "?") s, \(report["workers_killed"] ?? "?") workers killed")

            // That node, and only it, was stopped and started: its VM is a new process.
            let after = TestCluster.pids(nodes)
            #expect(Set(nodes.filter { before[$0] != after[$0] }) == [node], "before \(before), after \(after)")
        }
    }

    @Test("a rolling restart of all three nodes, one by one, under load: every parcel final, none lost, none applied twice",
          .timeLimit(.minutes(3)))
    func rollingRestartUnderLoad() async throws {
        try await TestCluster.exclusive {
            let urls = try TestCluster.urls()
            let nodes = try TestCluster.nodes().map(\.erlangName)
            let before = TestCluster.pids(nodes)
            // Stage time bounds the pace (eight tasks in flight, 60-80 ms each: 74 s at least), so the load
            // outlasts the three restarts (35 to 50 s on a busy 2-core machine) however fast the machine.
            let (status, report) = try await loadtest([
                "--parcels", "2000", "--workers", "2", "--concurrency", "4", "--stage-time", "60ms-80ms",
                "--transient-rate", "0.05", "--rolling-restart-at", "1", "--timeout", "150",
            ], url: urls)
            #expect(status == 0, "violations: \(report["violations"] ?? "")")
            #expect(report["ok"] as? Bool == true)
            #expect(report["lost"] as? Int == 0 && report["duplicated"] as? Int == 0)
            #expect(["delivered", "held", "dead_lettered"].compactMap { report[$0] as? Int }.reduce(0, +) == 2000)
            #expect((report["chaos_failures"] as? [String]) == [])

            let restarts = try #require(report["node_restarts"] as? [[String: Any]])
            #expect(restarts.compactMap { $0["node"] as? String } == nodes, "\(restarts)")
            for restart in restarts {
                #expect((restart["final_at_stop"] as? Int ?? 2000) < 2000, "restarted after the load: \(restart)")
                #expect(restart["back_at_s"] as? Double != nil, "\(restart)")
                #expect(restart["recovery_ms"] as? Double != nil, "no recovery figure: \(restart)")
            }
            // One by one: each node stopped only once the one before was back.
            for (earlier, later) in zip(restarts, restarts.dropFirst()) {
                #expect((later["stopped_at_s"] as? Double ?? 0) >= (earlier["back_at_s"] as? Double ?? .infinity))
            }
            let longest = restarts.compactMap { $0["recovery_ms"] as? Double }.max()
            #expect(report["recovery_ms_max"] as? Double == longest)
            print("rolling restart under load: recovery " + restarts.map { "\($0["node"] ?? "?") \($0["recovery_ms"] ?? "?") ms" }
                .joined(separator: ", ") + "; back at " + restarts.map { "\($0["back_at_s"] ?? "?") s" }.joined(separator: ", ")
                + "; \(report["seconds"] ?? "?") s")
            let after = TestCluster.pids(nodes)
            #expect(nodes.allSatisfy { before[$0] != nil && before[$0] != after[$0] }, "before \(before), after \(after)")
        }
    }
}
}

extension OnTheCluster.ClusterLoadTests {
    @Test("a run that times out with the node stopped: the node is started before the command exits, and the verdict fails",
          .timeLimit(.minutes(2)))
    func nodeStartedAfterATimeout() async throws {
        try await TestCluster.exclusive {
            let urls = try TestCluster.urls()
            let nodes = try TestCluster.nodes().map(\.erlangName)
            let before = TestCluster.pids(nodes)
            // (Not through `loadtest`, which counts a failed verdict as the test's failure.)
            let result = try await Parcelctl(environment: ["PARCELFLOW_AMQP_URL": urls]).run([
                "loadtest", "--json", "--parcels", "200", "--workers", "1", "--concurrency", "1", "--stage-time", "100ms",
                "--stop-node-at", "0.5", "--timeout", "4",
            ])
            #expect(result.status == 1, "\(result.stderr)")
            let report = try #require(try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                                      "no JSON report: \(result.stdout.suffix(1500)) \(result.stderr.suffix(1500))")
            let violations = (report["violations"] as? [String] ?? []).joined(separator: "; ")
            #expect(violations.contains("never reached a final state"), "\(violations)")
            let restart = try #require((report["node_restarts"] as? [[String: Any]])?.first)
            #expect(restart["started_at_s"] as? Double != nil && restart["back_at_s"] as? Double != nil, "\(restart)")
            try await TestCluster.expectWhole()
            let after = TestCluster.pids(nodes)
            #expect(nodes.filter { before[$0] != after[$0] } == [restart["node"] as? String], "before \(before), after \(after)")
            TestCluster.removeKeptLogs(result.stderr)
        }
    }

    @Test("parcelctl loadtest stopped by SIGTERM while the node is down: it starts the node again and exits 130",
          .timeLimit(.minutes(2)))
    func nodeStartedAfterAnInterrupt() async throws {
        try await TestCluster.exclusive {
            let urls = try TestCluster.urls()
            let nodes = try TestCluster.nodes().map(\.erlangName)
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parcelflow-interrupt-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let run = try BackgroundProcess(
                URL(fileURLWithPath: Parcelctl.binary),
                ["loadtest", "--parcels", "200", "--workers", "1", "--concurrency", "1", "--stage-time", "100ms",
                 "--stop-node-at", "0.5", "--timeout", "120"],
                environment: ["PARCELFLOW_AMQP_URL": urls], log: folder.appendingPathComponent("parcelctl.log"))
            let down = try await eventually(timeout: .seconds(60)) {
                for node in nodes {
                    if try await TestCluster.status(node) != 0 { return true }
                }
                return false
            }
            try #require(down, "no node went down: \(run.output)")
            run.signal(SIGTERM)
            #expect(await run.exitStatus(timeout: .seconds(90)) == 130, "\(run.output)")
            #expect(run.output.contains("no node was left stopped"), "\(run.output)")
            try await TestCluster.expectWhole()
        }
    }
}

extension OnTheCluster.ClusterLoadTests {
    @Test("a node stop asked for after the run ended: the verdict fails and says so (a run without it proves less)",
          .timeLimit(.minutes(1)))
    func stopAfterTheRun() async throws {
        try await TestCluster.exclusive {
            let urls = try TestCluster.urls()
            let result = try await Parcelctl(environment: ["PARCELFLOW_AMQP_URL": urls]).run([
                "loadtest", "--json", "--parcels", "20", "--workers", "1", "--stop-node-at", "600",
            ])
            #expect(result.status == 1, "\(result.stderr)")
            let report = try #require(try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                                      "no JSON report: \(result.stdout.suffix(1500)) \(result.stderr.suffix(1500))")
            #expect(report["lost"] as? Int == 0)
            #expect((report["chaos_failures"] as? [String]) == ["the run ended before --stop-node-at 600.0: no node was stopped"])
            #expect((report["violations"] as? [String] ?? []).contains("the run ended before --stop-node-at 600.0: no node was stopped"))
            #expect((report["node_restarts"] as? [Any])?.isEmpty == true)
            TestCluster.removeKeptLogs(result.stderr)
        }
    }
}

extension TestCluster {
    /// Removes the folder a failed verdict left (its path is in parcelctl's error output).
    static func removeKeptLogs(_ errors: String) {
        guard let kept = errors.range(of: "logs are kept in ") else { return }
        let logs = URL(fileURLWithPath: String(errors[kept.upperBound...].prefix { $0 != "\n" }))
        try? FileManager.default.removeItem(at: logs.deletingLastPathComponent())
    }

    /// `broker.sh status --name NODE`: 0 when the node runs and takes connections.
    static func status(_ node: String) async throws -> Int32 {
        try await runChild(URL(fileURLWithPath: "/bin/bash"),
                           [TestNode.script, "status", "--name", BrokerScript.shortName(node)]).status
    }

    /// Every node running, each a member of the cluster (`cluster status`).
    static func expectWhole() async throws {
        let exit = try await runChild(URL(fileURLWithPath: "/bin/bash"), [TestNode.script, "cluster", "status"])
        #expect(exit.status == 0, "the cluster is not whole: \(exit.errors)")
    }
}

@Suite("Cluster chaos: choosing the node, reading the probe, checking the flags")
struct ClusterChaosRulesTests {
    @Test("the node stopped is the one leading most of the run's stage queues, the first named on a tie")
    func busiestLeader() {
        let stages = ["lt.collection", "lt.packaging", "lt.inspection", "lt.delivery"]
        let nodes = ["c1@h", "c2@h", "c3@h"]
        let leaders = ["lt.collection": "c2@h", "lt.packaging": "c3@h", "lt.inspection": "c2@h", "lt.delivery": "c1@h",
                       // Not stage queues: never counted.
                       "lt.retry.collection.100ms": "c3@h", "lt.dead": "c3@h", "other.collection": "c3@h"]
        let busiest = ClusterChaos.busiestLeader(leaders: leaders, stageQueues: stages, nodes: nodes)
        #expect(busiest?.node == "c2@h" && busiest?.count == 2)
        let tie = ClusterChaos.busiestLeader(leaders: ["lt.collection": "c3@h", "lt.packaging": "c2@h"],
                                             stageQueues: stages, nodes: nodes)
        #expect(tie?.node == "c2@h" && tie?.count == 1)
        #expect(ClusterChaos.busiestLeader(leaders: ["x": "c1@h"], stageQueues: stages, nodes: nodes) == nil)
        #expect(BrokerScript.shortName("parcelflow-c2@localhost") == "parcelflow-c2")
    }

    @Test("a partition is cut and healed through the script by the node's name or the worker's host; only a node's goes through the probe")
    func partitionCommands() {
        let node = "parcelflow-n1@10.213.0.11"
        #expect(Partition.isolateNode.cut(node: node) == ["isolate", "parcelflow-n1"])
        #expect(Partition.isolateNode.heal(node: node) == ["heal", "parcelflow-n1"])
        #expect(Partition.splitNode.cut(node: node) == ["split", "parcelflow-n1"])
        #expect(Partition.splitNode.heal(node: node) == ["heal", "parcelflow-n1"])
        #expect(Partition.isolateWorkerHost("w1").cut(node: nil) == ["isolate", "w1"])
        #expect(Partition.isolateWorkerHost("w1").heal(node: nil) == ["heal", "w1"])
        #expect(ClusterFault.partition(.isolateNode, at: .seconds(1), healAt: .seconds(2)).cutsTheBusiestNode)
        #expect(ClusterFault.partition(.splitNode, at: .seconds(1), healAt: .seconds(2)).cutsTheBusiestNode)
        #expect(!ClusterFault.partition(.isolateWorkerHost("w1"), at: .seconds(1), healAt: .seconds(2)).cutsTheBusiestNode)
        #expect(ClusterFault.stopNode(at: .seconds(1), startAt: nil).cutsTheBusiestNode)
        #expect(!ClusterFault.rollingRestart(at: .seconds(1)).cutsTheBusiestNode)
    }

    @Test("a node's URL from the script is found in the run's list by port, 127.0.0.1 and localhost alike")
    func endpointMatching() throws {
        let list = try AMQPEndpoint.list("amqp://u:p@localhost:5716/%2f,amqp://u:p@localhost:5717/%2f")
        #expect(try ClusterChaos.endpointIndex(of: "amqp://guest:guest@127.0.0.1:5717/%2f", in: list) == 1)
        #expect(try ClusterChaos.endpointIndex(of: "amqp://guest:guest@127.0.0.1:5718/%2f", in: list) == nil)
        #expect(try ClusterChaos.endpointIndex(of: "amqp://guest:guest@10.0.0.1:5716/%2f", in: list) == nil)
    }

    @Test("recovery is the longest pause between confirms across the stop; none without confirms on both sides")
    func longestPause() {
        let zero = ContinuousClock.now
        func at(_ ms: Int) -> ContinuousClock.Instant { zero + .milliseconds(ms) }
        // Every 20 ms, a 1.5 s hole from 1,000 ms (the stop ran from 900 to 1,400 ms), then every 20 ms again.
        let confirms = stride(from: 0, through: 1000, by: 20).map(at) + stride(from: 2500, through: 3000, by: 20).map(at)
        #expect(RecoveryProbe.longestPause(confirms, from: at(900), to: at(1400)) == .milliseconds(1500))
        #expect(RecoveryProbe.usualGap(confirms) == .milliseconds(20))
        // A hole outside the stop is not its pause.
        #expect(RecoveryProbe.longestPause(confirms, from: at(2600), to: at(2700)) == .milliseconds(20))
        // No confirm after the stop (never recovered), or none before it: not measured.
        #expect(RecoveryProbe.longestPause(confirms, from: at(2900), to: at(3100)) == nil)
        #expect(RecoveryProbe.longestPause(confirms, from: at(-100), to: at(50)) == nil)
    }

    @Test("a process's environment is read from /proc: how the brokers of a run are told from other nodes")
    func processEnvironment() {
        #expect(ProcessStats.environmentValue(of: getpid(), "PATH") == ProcessInfo.processInfo.environment["PATH"])
        #expect(ProcessStats.environmentValue(of: getpid(), "PARCELFLOW_NO_SUCH_VARIABLE") == nil)
    }

    @Test("the flags: --start-node-at after --stop-node-at, --heal-at after a partition, a URL list of two nodes or more, one node fault at a time, plain worker host names")
    func flagChecks() async throws {
        let single = "amqp://guest:guest@127.0.0.1:1/%2f"
        let pair = "amqp://guest:guest@127.0.0.1:1/%2f,amqp://guest:guest@127.0.0.1:2/%2f"
        for (arguments, url, message) in [
            (["--stop-node-at", "3"], single, "--stop-node-at needs a cluster: give every node's URL"),
            (["--rolling-restart-at", "3"], single, "--rolling-restart-at needs a cluster"),
            (["--stop-node-at", "5", "--start-node-at", "5"], pair, "--start-node-at must be later than --stop-node-at"),
            (["--start-node-at", "5"], pair, "--start-node-at needs --stop-node-at"),
            (["--stop-node-at", "1", "--rolling-restart-at", "5"], pair, "give one of"),
            (["--stop-node-at=-1"], pair, "--stop-node-at must be from 0"),
            // Partitions: healed at a time after the cut, one fault at a time, worker hosts named plainly.
            (["--isolate-node-at", "3"], pair, "a partition needs --heal-at"),
            (["--split-node-at", "3", "--heal-at", "3"], pair, "--heal-at must be later than the partition's start"),
            (["--isolate-node-at", "3", "--heal-at", "5"], single, "--isolate-node-at needs a cluster"),
            (["--heal-at", "3"], pair, "--heal-at needs --isolate-node-at"),
            (["--isolate-worker-at", "3", "--heal-at", "5"], pair, "--isolate-worker-at needs --worker-hosts"),
            (["--isolate-node-at", "3", "--heal-at", "5", "--split-node-at", "4"], pair, "give one of"),
            (["--worker-hosts", "w1,w\u{1B}[2J"], pair, "'w\\e[2J' is not a host name"),
            (["--worker-hosts", " , "], pair, "--worker-hosts names no host"),
            (["--worker-hosts", "w1", "--workers", "0"], pair, "--worker-hosts w1 needs workers the test starts"),
        ] {
            let result = try await Parcelctl(environment: ["PARCELFLOW_AMQP_URL": url]).run(["loadtest"] + arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }
}

@Suite("The recovery probe, through publishers of the test's own")
struct RecoveryProbeTests {
    /// What each publisher the probe opens does with its publishes.
    enum Behaviour: Sendable { case hang, fail, confirm }

    /// Opens fake publishers, one behaviour per opening (the last repeats), noting the endpoints each
    /// opening was given, first to try first.
    final class Publishers: Sendable {
        let behaviours: [Behaviour]
        let opened = Mutex<[[AMQPEndpoint]]>([])
        let closedHanging = Atomic<Bool>(false)

        init(_ behaviours: [Behaviour]) { self.behaviours = behaviours }

        func open(_ configuration: AMQPConfiguration) async throws -> any ConfirmedPublisher {
            let index = opened.withLock { opened in
                opened.append(configuration.endpoints)
                return opened.count - 1
            }
            return Fake(behaviour: behaviours[min(index, behaviours.count - 1)], publishers: self)
        }

        struct Fake: ConfirmedPublisher {
            let behaviour: Behaviour
            let publishers: Publishers
            let closed = Closed()

            func publish(contentsOf messages: [AMQPOutboundMessage]) async -> [AMQPError?] {
                switch behaviour {
                case .confirm: return messages.map { _ in nil }
                case .fail: return messages.map { _ in AMQPError(.connectionLost, "the fake's node went away") }
                case .hang:
                    while !closed.value.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(10)) }
                    return messages.map { _ in AMQPError(.closedByApplication, "closed") }
                }
            }

            func close() async {
                closed.value.store(true, ordering: .relaxed)
                if behaviour == .hang { publishers.closedHanging.store(true, ordering: .relaxed) }
            }
        }

        final class Closed: Sendable { let value = Atomic<Bool>(false) }
    }

    @Test("a publish that fails or waits past its timeout: the probe closes that publisher and opens another, the next node first",
          .timeLimit(.minutes(1)))
    func reconnectsNextNodeFirst() async throws {
        // One node named two ways: two endpoints for the probe to go round.
        let first = Broker.endpoint
        var second = first
        second.host = first.host == "localhost" ? "127.0.0.1" : "localhost"
        let publishers = Publishers([.hang, .fail, .confirm])
        let probe = RecoveryProbe(configuration: AMQPConfiguration(endpoints: [first, second], connectionName: "test probe"),
                                  namespace: Broker.unique("probe"), open: publishers.open, publishTimeout: .milliseconds(300))
        let running = Task { await probe.run() }
        var failure: String?
        do {
            try await probe.aim(at: 0)
        } catch {
            failure = "\(error)"
        }
        running.cancel()
        await running.value
        await probe.deleteQueues()

        #expect(failure == nil)

        let firstTried = publishers.opened.withLock { $0.map { $0.first!.host } }
        #expect(Array(firstTried.prefix(3)) == [first.host, second.host, first.host], "\(firstTried)")
        let hangingClosed = publishers.closedHanging.load(ordering: .relaxed)
        #expect(hangingClosed, "the publisher that hung was never closed")
        #expect(!probe.confirms.isEmpty)
    }
}
