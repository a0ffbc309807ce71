import AMQP
import Foundation
import ParcelTestSupport
import Testing

@Suite("Heartbeats")
struct HeartbeatTests {
    @Test("heartbeats are sent on an idle connection, and missing ones are detected", .timeLimit(.minutes(1)))
    func heartbeats() async throws {
        let endpoint = TestBroker.endpoint
        let proxy = try TCPProxy(target: (endpoint.host == "localhost" ? "127.0.0.1" : endpoint.host, endpoint.port))
        defer { proxy.stop() }
        var viaProxy = endpoint
        viaProxy.host = "127.0.0.1"
        viaProxy.port = proxy.port
        var configuration = AMQPConfiguration(endpoints: [viaProxy], connectionName: "heartbeat test")
        configuration.heartbeat = .seconds(1)
        let connection = try await AMQPConnection.connect(configuration)
        #expect(connection.heartbeatSeconds == 1)
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("heartbeat")
        try await channel.declareQueue(queue, options: AMQPQueueOptions(durable: false, exclusive: true))
        let consumer = try await channel.consume(queue: queue)

        // Idle for four intervals: the broker would have closed a connection that sent no heartbeats.
        try await Task.sleep(for: .seconds(4))
        #expect(connection.isOpen)
        _ = try await channel.queueState(queue)

        // The network goes silent: within about two intervals the client gives up on its own.
        proxy.goSilent()
        let started = ContinuousClock.now
        let reason = await connection.closed()
        #expect(reason?.code == .heartbeatMissed)
        #expect(ContinuousClock.now - started < .seconds(8))  // two intervals, plus slack for a loaded machine
        let error = await #expect(throws: AMQPError.self) { for try await _ in consumer {} }
        #expect(error?.code == .heartbeatMissed)
    }
}
