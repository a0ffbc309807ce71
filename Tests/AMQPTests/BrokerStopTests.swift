import AMQP
import Foundation
import ParcelTestSupport
import Testing

/// A broker node of its own for tests that stop it: the shared test broker must stay up for the others.
struct ThrowawayBroker {
    let name: String
    let port: Int
    let distPort: Int

    var script: String {
        TestBroker.environment["PARCELFLOW_BROKER_SCRIPT"] ?? TestBroker.root.appendingPathComponent("deploy/local/broker.sh").path
    }

    var url: String { "amqp://guest:guest@127.0.0.1:\(port)/%2f" }

    func start() async throws {
        try await runProcess("/bin/bash", [script, "start", "--name", name, "--port", "\(port)", "--dist-port", "\(distPort)"])
    }

    func stop() async throws {
        try await runProcess("/bin/bash", [script, "stop", "--name", name])
    }
}

@Suite("Losing the broker", .serialized)
struct BrokerStopTests {
    @Test("stopping the broker under a consumer and a publisher fails both promptly", .timeLimit(.minutes(2)))
    func brokerStops() async throws {
        let broker = ThrowawayBroker(name: "parcelflow-t1", port: 5692, distPort: 25692)
        try await broker.start()
        let configuration = try AMQPConfiguration(url: broker.url, connectionName: "broker stop test")
        let consuming = try await AMQPConnection.connect(configuration)
        let publishing = try await AMQPConnection.connect(configuration)
        let queue = TestBroker.unique("stop")
        let publisher = try await publishing.openChannel()
        try await publisher.declareQueue(queue, options: AMQPQueueOptions(type: .quorum))
        try await publisher.enableConfirms()
        let consumerChannel = try await consuming.openChannel()
        try await consumerChannel.setPrefetch(50)
        let consumer = try await consumerChannel.consume(queue: queue)

        let consumed = Task { () -> (Int, AMQPError?) in
            var count = 0
            do {
                for try await delivery in consumer {
                    try delivery.ack()
                    count += 1
                }
                return (count, nil)
            } catch {
                return (count, error as? AMQPError)
            }
        }
        let published = Task { () -> (Int, AMQPError?) in
            var confirmed = 0
            while true {
                let results = await publisher.publish(contentsOf: (0..<50).map { .text("\($0)", to: queue) })
                if let error = results.lazy.compactMap({ $0 }).first { return (confirmed, error) }
                confirmed += results.count
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        #expect(try await eventually { try await publisher.queueState(queue).consumerCount == 1 })
        try await Task.sleep(for: .milliseconds(500))

        let stopped = ContinuousClock.now
        try await broker.stop()
        let stopTook = ContinuousClock.now - stopped
        let (received, consumerError) = await consumed.value
        let (confirmed, publisherError) = await published.value
        let failedWithin = ContinuousClock.now - stopped

        #expect(received > 0 && confirmed > 0)
        #expect(consumerError?.isConnectionLevel == true, "consumer ended with \(String(describing: consumerError))")
        #expect(publisherError?.isConnectionLevel == true, "publisher ended with \(String(describing: publisherError))")
        // "Promptly": by the time the node has finished stopping, both already know.
        #expect(failedWithin < stopTook + .seconds(5))
        #expect(await consuming.closed()?.isConnectionLevel == true)
        #expect(!publishing.isOpen)
        let refused = await #expect(throws: AMQPError.self) { try await AMQPConnection.connect(configuration) }
        #expect(refused?.code == .connectionRefused)
    }
}
