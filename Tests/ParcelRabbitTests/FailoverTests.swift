import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import ParcelWorkerRuntime
import ParcelTestSupport
import Synchronization
import Testing

extension OnTheCluster {
/// Workers losing part of the broker: a consumer the broker cancels, a cluster node that stops.
@Suite("Failover")
struct FailoverTests {
    static func handlers() -> [Stage: any StageHandler] {
        var handlers: [Stage: any StageHandler] = [:]
        for stage in Stage.allCases {
            handlers[stage] = SimulatedStageHandler(stage: stage, workTime: .milliseconds(1) ... .milliseconds(4), seed: 3)
        }
        return handlers
    }

    @Test("the broker cancels a stage's consumer (its queue was deleted): the worker declares it again, subscribes again, and goes on without reconnecting",
          .timeLimit(.minutes(1)))
    func consumerCancelled() async throws {
        let fixture = try await WorkerFixture.start(handlers: Self.handlers())
        let first = SubmitFixture.parcels(30, prefix: "C1")
        try await fixture.submitParcels(first)
        #expect(try await fixture.waitUntilFinal(first.map(\.id)))

        // Deleting the queue makes the broker send basic.cancel to its consumer.
        let connection = try await Broker.connect()
        try await connection.openChannel().deleteQueue(fixture.submit.topology.stageQueue(.packaging))
        let declaredAgain = try await eventually(timeout: .seconds(10)) {
            let channel = try await connection.openChannel()
            defer { Task { await channel.close() } }
            return (try? await channel.queueState(fixture.submit.topology.stageQueue(.packaging)))?.consumerCount == 1
        }
        #expect(declaredAgain, "the packaging queue is back, with the worker consuming from it")
        await connection.close()

        let second = SubmitFixture.parcels(60, prefix: "C2")
        try await fixture.submitParcels(second)
        #expect(try await fixture.waitUntilFinal(second.map(\.id)))
        try await fixture.submit.checkAllFinalAndAppliedOnce(first + second)
        #expect(fixture.worker.counts.reconnects == 0, "the other stages never stopped")
        try await fixture.stop()
    }

    @Test("a cluster node stopped under a worker's consumer and publisher: each carries on through another node; every parcel final, applied once",
          .timeLimit(.minutes(3)))
    func nodeStopsUnderWorker() async throws {
        try await TestCluster.exclusive {
            var submit = try SubmitFixture()
            submit.url = try TestCluster.urls()
            try await submit.declare()
            // The node leading most of this test's stage queues, and both of the worker's connections on it.
            let victim = try await TestCluster.leadingMost(of: Stage.allCases.map(submit.topology.stageQueue))
            let fixture = try await WorkerFixture.start(
                handlers: Self.handlers(), amqp: try TestCluster.configuration(first: victim, name: "test failover worker"),
                submit: submit)
            try #require(try await eventually(timeout: .seconds(20)) { fixture.worker.isReady })
            let publisher = ReconnectingPublisher(configuration: try TestCluster.configuration(first: victim, name: "test failover submit"))
            try await publisher.connect()
            let store = fixture.store
            let stopped = Atomic<Bool>(false)
            // Chunks of 10 parcels, one after the other, until 20 chunks after the node is down.
            let submitting = Task { () -> (parcels: [Parcel], failed: [String]) in
                var parcels: [Parcel] = []
                var failed: [String] = []
                var after = 0
                while after < 20 {
                    let chunk = SubmitFixture.parcels(parcels.count + 10, prefix: "F").suffix(10)
                    parcels += chunk
                    let report = try await ParcelSubmitter(publisher: publisher, store: store, topology: submit.topology)
                        .submit(Array(chunk))
                    failed += report.failed.map(\.id)
                    if stopped.load(ordering: .relaxed) { after += 1 }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return (parcels, failed)
            }
            #expect(try await eventually(timeout: .seconds(30)) {
                ParcelStatus.State.finalCount(try await store.countsByState()) >= 40
            })
            try await TestCluster.stop(victim)
            stopped.store(true, ordering: .relaxed)
            let (parcels, failed) = try await submitting.value
            #expect(failed.isEmpty, "the submitter's publishes all confirmed: \(failed.prefix(5))")
            #expect(try await fixture.waitUntilFinal(parcels.map(\.id), timeout: .seconds(90)))
            try await fixture.submit.checkAllFinalAndAppliedOnce(parcels)
            #expect(fixture.worker.counts.reconnects >= 1, "the consumer moved to another node")
            #expect(publisher.reconnects >= 1, "the submitter's publisher moved to another node")
            await publisher.close()
            try await TestCluster.start(victim)
            try await fixture.stop()
        }
    }

    @Test("a memory alarm blocks a worker's publishing: its tasks wait, its log and /metrics say so, and they finish once the alarm clears",
          .timeLimit(.minutes(2)))
    func blockedWorker() async throws {
        try await TestCluster.exclusive {
            var fixture = try SubmitFixture()
            fixture.url = try TestCluster.urls()
            try await fixture.declare()
            let worker = try await ObservedWorker(fixture, name: "blocked", arguments: ["--stage-time", "200ms"], url: fixture.url)
            let parcels = SubmitFixture.parcels(20, prefix: "B")
            try await fixture.submitWithLibrary(parcels, url: fixture.url)

            let rabbitmqctl = URL(fileURLWithPath: "/usr/lib/rabbitmq/bin/rabbitmqctl")
            func watermark(_ value: String) async throws {
                for node in try TestCluster.nodes() {
                    let exit = try await runChild(rabbitmqctl, ["-n", node.erlangName, "set_vm_memory_high_watermark", value])
                    try #require(exit.status == 0, "\(exit.errors)")
                }
            }
            try await watermark("0.000001")
            do {
                let blocked = try await eventually(timeout: .seconds(30)) {
                    ObservedWorker.sum(try await worker.metrics(), ParcelMetrics.publishingBlocked) == 1
                }
                #expect(blocked, "parcelflow_publishing_blocked 1 while the alarm lasts")
                #expect(worker.process.output.contains("the broker blocked publishing"), "\(worker.process.output.suffix(2000))")
                let final = ParcelStatus.State.finalCount(try await fixture.statesCount())
                try await Task.sleep(for: .seconds(1))
                #expect(ParcelStatus.State.finalCount(try await fixture.statesCount()) == final, "no parcel moves on while blocked")
            } catch {
                try? await watermark("0.4")
                throw error
            }
            try await watermark("0.4")
            #expect(try await eventually(timeout: .seconds(60)) {
                ParcelStatus.State.finalCount(try await fixture.statesCount()) == parcels.count
            })
            #expect(ObservedWorker.sum(try await worker.metrics(), ParcelMetrics.publishingBlocked) == 0)
            try await fixture.checkAllFinalAndAppliedOnce(parcels)
            await worker.process.stop()
            try await fixture.tearDown()
        }
    }
}
}
