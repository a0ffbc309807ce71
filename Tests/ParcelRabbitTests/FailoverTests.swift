import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import ParcelWorkerRuntime
import ParcelTestSupport
import Synchronization
import Testing

/// Workers losing part of the broker: a consumer the broker cancels, a cluster node that stops.
@Suite("Failover", .serialized)
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
}
