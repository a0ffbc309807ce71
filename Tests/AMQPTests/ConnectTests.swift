import AMQP
import Foundation
import ParcelTestSupport
import Testing

@Suite("Connecting")
struct ConnectTests {
    @Test("a wrong password gives a clear authentication error without the password")
    func wrongPassword() async throws {
        var endpoint = TestBroker.endpoint
        endpoint.password = "not-the-password"
        let error = await #expect(throws: AMQPError.self) {
            try await AMQPConnection.connect(AMQPConfiguration(endpoints: [endpoint], connectionName: "wrong password"))
        }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.replyName == "ACCESS_REFUSED")
        #expect(error?.message.contains("ACCESS_REFUSED") == true)
        #expect(error?.description.contains("not-the-password") == false)
        #expect(error?.description.contains(":***@") == true)
    }

    @Test("an unknown vhost is refused by the broker with its reason")
    func unknownVhost() async throws {
        var endpoint = TestBroker.endpoint
        endpoint.vhost = "no-such-vhost"
        let error = await #expect(throws: AMQPError.self) {
            try await AMQPConnection.connect(AMQPConfiguration(endpoints: [endpoint], connectionName: "bad vhost"))
        }
        #expect(error?.code == .connectionClosedByBroker)
        #expect(error?.message.contains("no-such-vhost") == true)
    }

    @Test("a port where nothing listens fails at once with 'connection refused'")
    func refused() async throws {
        let unused = try freePort()
        var configuration = try AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:\(unused)/%2f", connectionName: "refused")
        configuration.connectTimeout = .seconds(10)
        let started = ContinuousClock.now
        let error = await #expect(throws: AMQPError.self) { try await AMQPConnection.connect(configuration) }
        // Far sooner than the timeout (a loaded test machine may delay the reply by a second or two).
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(error?.code == .connectionRefused)
        #expect(error?.message.contains("127.0.0.1:\(unused)") == true)
    }

    @Test("a listener that never answers fails within the connect timeout")
    func handshakeTimeout() async throws {
        let silent = try TCPProxy(target: nil)
        defer { silent.stop() }
        var configuration = try AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:\(silent.port)/%2f", connectionName: "silent")
        configuration.connectTimeout = .milliseconds(700)
        let started = ContinuousClock.now
        let error = await #expect(throws: AMQPError.self) { try await AMQPConnection.connect(configuration) }
        let elapsed = ContinuousClock.now - started
        #expect(error?.code == .timedOut)
        #expect(error?.message.contains("700 ms") == true)
        // Waited for the timeout, and not for rabbitmq-c's default of 12 s (slack for a loaded machine).
        #expect(elapsed >= .milliseconds(600) && elapsed < .seconds(6))
    }

    @Test("a list of URLs is tried in turn until one accepts")
    func failover() async throws {
        let dead = try freePort()
        let configuration = try AMQPConfiguration(
            url: "amqp://guest:guest@127.0.0.1:\(dead)/%2f, \(TestBroker.url)", connectionName: "failover")
        let connection = try await AMQPConnection.connect(configuration)
        #expect(connection.endpoint == TestBroker.endpoint)
        #expect(connection.brokerVersion?.isEmpty == false)
        await connection.close()

        let allDead = try AMQPConfiguration(
            url: "amqp://127.0.0.1:\(dead), amqp://127.0.0.1:\(try freePort())", connectionName: "all dead")
        let error = await #expect(throws: AMQPError.self) { try await AMQPConnection.connect(allDead) }
        #expect(error?.code == .connectionRefused)
        #expect(error?.context == "connecting to 2 brokers")
    }

    @Test("a node that refused a connect is tried after the others by the next connects, not first again")
    func failedNodeTriedLast() async throws {
        let dead = try freePort()
        var configuration = try AMQPConfiguration(
            url: "amqp://guest:guest@127.0.0.1:\(dead)/%2f, \(TestBroker.url)", connectionName: "failed node last")
        configuration.endpointSelection = .rotating
        let logs = CapturedLogs()
        for _ in 0..<10 {
            let connection = try await AMQPConnection.connect(configuration, logger: logs.logger(label: "test"))
            #expect(connection.endpoint == TestBroker.endpoint)
            await connection.close()
        }
        // Rotation alone would start at the dead node about every other time.
        let refused = logs.all.filter { $0.message == "AMQP connect failed" }
        #expect(refused.count <= 1, "connects that tried the dead node first: \(refused.count) of 10")
    }

    @Test("the broker shows the connection's name")
    func connectionName() async throws {
        let node = try #require(TestBroker.environment["PARCELFLOW_BROKER_NODE"],
                                "deploy/local/test.sh exports the node name of the broker it runs")
        let name = "parcelflow name check \(UInt16.random(in: 0...9999))"
        let connection = try await AMQPConnection.connect(try AMQPConfiguration(url: TestBroker.url, connectionName: name))
        let listing = try await runProcess("/usr/lib/rabbitmq/bin/rabbitmqctl", ["-q", "-n", node, "list_connections", "client_properties"])
        #expect(listing.contains(name))
        await connection.close()
    }

    @Test("closing twice, and using a closed connection, fail cleanly")
    func useAfterClose() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        await connection.close()
        await connection.close()
        #expect(!connection.isOpen)
        #expect(await connection.closed() == nil)
        let error = await #expect(throws: AMQPError.self) { try await channel.declareQueue(TestBroker.unique("late")) }
        #expect(error?.code == .closedByApplication)
        #expect(await channel.publish(contentsOf: [.text("late", to: "x")]).first??.code == .closedByApplication)
    }
}

/// Runs a program (on a thread of its own) and returns its standard output; throws with its standard
/// error when it fails.
@discardableResult
func runProcess(_ path: String, _ arguments: [String]) async throws -> String {
    let exit = try await runChild(URL(fileURLWithPath: path), arguments)
    guard exit.status == 0 else {
        throw ProcessFailure(command: ([path] + arguments).joined(separator: " "), status: exit.status, stderr: exit.errors)
    }
    return exit.output
}

struct ProcessFailure: Error, CustomStringConvertible {
    let command: String
    let status: Int32
    let stderr: String
    var description: String { "\(command) exited \(status): \(stderr)" }
}
