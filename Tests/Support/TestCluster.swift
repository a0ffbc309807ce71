import AMQP
import Foundation

/// The three-node RabbitMQ cluster the failover tests use: the one `deploy/local/test.sh` started
/// with `deploy/local/broker.sh cluster start` and exported as `PARCELFLOW_CLUSTER_URLS` (node names in
/// `PARCELFLOW_CLUSTER_NODES`). Only these tests use it, and they take turns (``exclusive(_:)``),
/// since they stop its nodes.
public enum TestCluster {
    public struct Missing: Error, CustomStringConvertible {
        public var description: String {
            "PARCELFLOW_CLUSTER_URLS is not set: run the tests through deploy/local/test.sh, which starts the cluster"
        }
    }

    /// One node: its name for deploy/local/broker.sh, its Erlang name, its URL.
    public struct Node: Sendable, Hashable {
        public let name: String
        public let url: String
        public var erlangName: String { "\(name)@localhost" }
    }

    public static func nodes() throws -> [Node] {
        let environment = TestBroker.environment
        guard let urls = environment["PARCELFLOW_CLUSTER_URLS"], !urls.isEmpty else { throw Missing() }
        let list = urls.split(separator: ",").map(String.init)
        let names = (environment["PARCELFLOW_CLUSTER_NODES"] ?? "parcelflow-c1,parcelflow-c2,parcelflow-c3")
            .split(separator: ",").map(String.init)
        guard list.count == names.count, list.count >= 3 else { throw Missing() }
        return zip(names, list).map { Node(name: $0, url: $1) }
    }

    /// The comma-separated URL list, `first` first (the order a connection with
    /// ``EndpointSelection/inOrder`` tries them).
    public static func urls(first: Node? = nil) throws -> String {
        var all = try nodes()
        if let first, let index = all.firstIndex(of: first) { all.insert(all.remove(at: index), at: 0) }
        return all.map(\.url).joined(separator: ",")
    }

    /// A configuration that connects to `first` while it runs, and to the others only after it.
    public static func configuration(first: Node? = nil, name: String) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: try urls(first: first), connectionName: name)
        configuration.endpointSelection = .inOrder
        configuration.connectTimeout = .seconds(2)
        return configuration
    }

    static var script: String {
        TestBroker.environment["PARCELFLOW_BROKER_SCRIPT"] ?? TestBroker.root.appendingPathComponent("deploy/local/broker.sh").path
    }

    public static func stop(_ node: Node) async throws {
        let exit = try await runChild(URL(fileURLWithPath: "/bin/bash"), [script, "stop", "--name", node.name])
        guard exit.status == 0 else { throw ScriptFailure(command: "stop \(node.name)", exit: exit) }
    }

    public static func start(_ node: Node) async throws {
        let exit = try await runChild(URL(fileURLWithPath: "/bin/bash"), [script, "start", "--name", node.name])
        guard exit.status == 0 else { throw ScriptFailure(command: "start \(node.name)", exit: exit) }
    }

    /// Starts whichever nodes are not running (a test that failed midway may have left one stopped),
    /// clears any memory alarm a test raised (the nodes' default watermark), and spreads the quorum
    /// queues' leaders again (a restarted node leads none), as ops do after a rolling restart.
    public static func startAll() async throws {
        let all = try nodes()
        for node in all {
            try await start(node)
            _ = try await runChild(URL(fileURLWithPath: "/usr/lib/rabbitmq/bin/rabbitmqctl"),
                                   ["-n", node.erlangName, "set_vm_memory_high_watermark", "0.4"])
        }
        _ = try await runChild(URL(fileURLWithPath: "/usr/lib/rabbitmq/bin/rabbitmq-queues"),
                               ["-n", all[0].erlangName, "rebalance", "quorum"])
    }

    /// The leader node (Erlang name) of each quorum queue.
    public static func leaders() async throws -> [String: String] {
        let exit = try await runChild(URL(fileURLWithPath: "/bin/bash"), [script, "cluster", "leaders"])
        guard exit.status == 0 else { throw ScriptFailure(command: "cluster leaders", exit: exit) }
        var leaders: [String: String] = [:]
        for line in exit.lines {
            let fields = line.split(separator: "\t").map(String.init)
            if fields.count == 2 { leaders[fields[0]] = fields[1] }
        }
        return leaders
    }

    /// The node leading most of `queues`.
    public static func leadingMost(of queues: [String]) async throws -> Node {
        let leaders = try await leaders()
        var counts: [String: Int] = [:]
        for queue in queues { if let leader = leaders[queue] { counts[leader, default: 0] += 1 } }
        let all = try nodes()
        return all.max { counts[$0.erlangName, default: 0] < counts[$1.erlangName, default: 0] }!
    }

    /// Runs `body` with the cluster to itself, then makes sure every node runs again.
    public static func exclusive<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await turn.acquire()
        do {
            let result = try await body()
            try await startAll()
            await turn.release()
            return result
        } catch {
            try? await startAll()
            await turn.release()
            throw error
        }
    }

    private static let turn = Turn()

    public struct ScriptFailure: Error, CustomStringConvertible {
        let command: String
        let exit: ChildExit
        public var description: String { "broker.sh \(command) exited with \(exit.status): \(exit.output)\(exit.errors)" }
    }
}

/// One holder at a time, waiters in order.
private actor Turn {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !held {
            held = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
    }
}
