import AMQP
import Foundation
import ParcelTestSupport
import Synchronization
import Testing

/// Every test that uses the three-node cluster deploy/local/test.sh starts is a suite nested in this
/// one, so that they run one at a time (they stop its nodes, or raise alarms on them), each within its
/// own time limit. (`TestCluster.exclusive` also makes them take turns, and puts the nodes right after.)
@Suite("On the three-node cluster", .serialized)
enum OnTheCluster {}

extension OnTheCluster {
/// The reconnecting publisher on the cluster.
@Suite("Publishing to a cluster")
struct ClusterPublishTests {
    @Test("a node stopped under a publisher: it carries on through another node, re-sending what was unconfirmed, and loses nothing",
          .timeLimit(.minutes(3)))
    func nodeStopsUnderPublisher() async throws {
        try await TestCluster.exclusive {
            let nodes = try TestCluster.nodes()
            let victim = nodes[0]
            let queue = TestBroker.unique("cluster-publish")
            // The queue's leader on the node to be stopped (client-local), so its loss is felt twice:
            // the publisher's connection goes, and the queue elects a new leader.
            let setup = try await AMQPConnection.connect(TestCluster.configuration(first: victim, name: "test setup"))
            try await setup.openChannel().declareQueue(queue, options: AMQPQueueOptions(
                type: .quorum, extraArguments: ["x-queue-leader-locator": "client-local"]))
            await setup.close()

            let publisher = ReconnectingPublisher(configuration: try TestCluster.configuration(first: victim, name: "test publisher"),
                                                  resendWithin: .seconds(60))
            try await publisher.connect()
            #expect(publisher.endpoint?.port == AMQPEndpoint.parse(victim.url).port)
            let confirmedAt = Mutex<[ContinuousClock.Instant]>([])
            let stopped = Atomic<Bool>(false)
            // Batches of 10, one after the other, until 50 batches after the node is down.
            let publishing = Task { () -> (sent: Int, failures: [AMQPError]) in
                var failures: [AMQPError] = []
                var sent = 0
                var after = 0
                while after < 50 {
                    let batch = (sent..<sent + 10).map { AMQPOutboundMessage.text("m\($0)", to: queue) }
                    sent += 10
                    let results = await publisher.publish(contentsOf: batch)
                    failures += results.compactMap { $0 }
                    confirmedAt.withLock { $0.append(ContinuousClock.now) }
                    if stopped.load(ordering: .relaxed) { after += 1 }
                    try? await Task.sleep(for: .milliseconds(5))
                }
                return (sent, failures)
            }
            #expect(try await eventually(timeout: .seconds(30)) { confirmedAt.withLock { $0.count } >= 30 })
            let stopping = ContinuousClock.now
            try await TestCluster.stop(victim)
            stopped.store(true, ordering: .relaxed)
            let (total, failures) = await publishing.value
            #expect(failures.isEmpty, "every message confirmed in the end: \(failures.prefix(3))")
            #expect(publisher.reconnects >= 1)
            #expect(publisher.endpoint?.port != AMQPEndpoint.parse(victim.url).port)
            // The node goes down some time into `broker.sh stop`: the outage is the longest gap between
            // confirms from then on (the last confirm before the node went to the first after).
            let times = confirmedAt.withLock { $0 }.filter { $0 >= stopping }
            let outage = zip(times, times.dropFirst()).map { $1 - $0 }.max() ?? .zero
            print("publisher recovery (last confirm before the node stopped to the first after): \(outage); "
                + "\(publisher.resent) messages re-sent")
            #expect(outage < .seconds(20))

            // Every message is in the queue (a re-sent one possibly twice), read through a node still up.
            let reader = try await AMQPConnection.connect(TestCluster.configuration(first: nodes[1], name: "test reader"))
            let channel = try await reader.openChannel()
            var seen = Set<String>()
            var read = 0
            while let delivery = try await channel.get(queue: queue, autoAck: true) {
                seen.insert(String(decoding: delivery.body, as: UTF8.self))
                read += 1
            }
            #expect(seen.count == total, "distinct messages in the queue: \(seen.count) of \(total) (read \(read))")
            #expect(read <= total + publisher.resent, "no more copies than re-sends")
            try await channel.deleteQueue(queue)
            await reader.close()
            await publisher.close()
        }
    }

    @Test("a memory alarm blocks publishing: the publisher is told, its publishes wait, and go through once the alarm clears",
          .timeLimit(.minutes(2)))
    func blockedPublisher() async throws {
        try await TestCluster.exclusive {
            let nodes = try TestCluster.nodes()
            let queue = TestBroker.unique("blocked")
            let changes = Mutex<[String?]>([])
            var configuration = try TestCluster.configuration(first: nodes[1], name: "test blocked")
            configuration.blockedChanged = { reason in changes.withLock { $0.append(reason) } }
            let publisher = ReconnectingPublisher(configuration: configuration)
            try await publisher.connect()
            let setup = try await AMQPConnection.connect(TestCluster.configuration(first: nodes[1], name: "test setup"))
            try await setup.openChannel().declareQueue(queue, options: AMQPQueueOptions(type: .quorum))
            try await publisher.publish(.text("before", to: queue))

            let rabbitmqctl = URL(fileURLWithPath: "/usr/lib/rabbitmq/bin/rabbitmqctl")
            let alarm = try await runChild(rabbitmqctl, ["-n", nodes[1].erlangName, "set_vm_memory_high_watermark", "0.000001"])
            try #require(alarm.status == 0, "\(alarm.errors)")
            let clear = { () async throws in
                _ = try await runChild(rabbitmqctl, ["-n", nodes[1].erlangName, "set_vm_memory_high_watermark", "0.4"])
            }
            do {
                let blocked = Task { try await publisher.publish(.text("during", to: queue)) }
                let told = try await eventually(timeout: .seconds(20)) { publisher.isBlocked }
                #expect(told, "connection.blocked arrived")
                #expect(changes.withLock { $0.first ?? nil }?.contains("memory") == true, "the reason: \(changes.withLock { $0 })")
                try await Task.sleep(for: .milliseconds(500))
                #expect(publisher.isBlocked, "still blocked, the publish still waiting")
                try await clear()
                try await blocked.value
                #expect(try await eventually(timeout: .seconds(10)) { !publisher.isBlocked })
                #expect(changes.withLock { $0.last } == .some(nil), "unblocked: \(changes.withLock { $0 })")
            } catch {
                try await clear()
                throw error
            }
            #expect(try await setup.openChannel().queueState(queue).messageCount == 2)
            try await setup.openChannel().deleteQueue(queue)
            await setup.close()
            await publisher.close()
        }
    }
}

}

extension AMQPEndpoint {
    static func parse(_ url: String) -> AMQPEndpoint { try! AMQPEndpoint(url: url) }
}

extension AMQPOutboundMessage {
    static func text(_ text: String, to queue: String) -> AMQPOutboundMessage {
        AMQPOutboundMessage(routingKey: queue, body: Data(text.utf8), properties: AMQPProperties(deliveryMode: 2))
    }
}
