import AMQP
import Foundation
import ParcelCore
import ParcelWorkerRuntime
import ParcelRabbit
import ParcelTestSupport
import Testing

/// A broker node of the test's own, to stop and start under running workers.
struct TestNode {
    let name = "parcelflow-t2"
    let port = 5694

    var url: String { "amqp://guest:guest@127.0.0.1:\(port)/%2f" }

    /// deploy/local/broker.sh, or the script test.sh names.
    static let script = ProcessInfo.processInfo.environment["PARCELFLOW_BROKER_SCRIPT"]
        ?? Broker.root.appendingPathComponent("deploy/local/broker.sh").path

    func run(_ command: String) async throws {
        let arguments = [Self.script, command, "--name", name] + (command == "start" ? ["--port", "\(port)", "--dist-port", "25694"] : [])
        let status = try await runChild(URL(fileURLWithPath: "/bin/bash"), arguments).status
        #expect(status == 0, "broker.sh \(command) failed")
    }
}

@Suite("Losing the broker under workers", .serialized)
struct BrokerRestartTests {
    @Test("the broker node stopped and started during a batch: workers reconnect, every parcel ends final, once",
          .timeLimit(.minutes(3)))
    func brokerRestart() async throws {
        let node = TestNode()
        try await node.run("start")
        let fixture = try SubmitFixture.withMillisecondRetries()
        let connection = try await AMQPConnection.connect(AMQPConfiguration(url: node.url, connectionName: "test setup"))
        try await fixture.topology.declare(on: try await connection.openChannel())
        await connection.close()

        var handlers: [Stage: any StageHandler] = [:]
        for stage in Stage.allCases {
            handlers[stage] = SimulatedStageHandler(stage: stage, workTime: .milliseconds(20) ... .milliseconds(40), seed: 11)
        }
        let worker = try await WorkerFixture.start(retryDelays: fixture.topology.retryDelays, handlers: handlers,
                                                   url: node.url, submit: fixture)
        let parcels = SubmitFixture.parcels(120)
        try await worker.submitParcels(parcels, url: node.url)
        // Mid-batch (480 tasks of 20–40 ms, 8 at a time: about 1.8 s): once the first parcel is through.
        #expect(try await eventually(timeout: .seconds(20)) { (try await fixture.statesCount()[.delivered] ?? 0) > 0 })
        #expect((try await fixture.statesCount()[.delivered] ?? 0) < parcels.count)

        try await node.run("stop")
        let noticed = try await eventually(timeout: .seconds(5)) { !worker.worker.isReady }
        #expect(noticed, "the worker did not notice the broker stop")
        try await node.run("start")

        let ids = parcels.map(\.id)
        #expect(try await worker.waitUntilFinal(ids, timeout: .seconds(90)))
        try await fixture.checkAllFinalAndAppliedOnce(parcels)
        #expect(worker.worker.counts.reconnects >= 1)
        worker.task.cancel()
        try await worker.task.value
        await worker.store.close()
        try await node.run("stop")
        try? FileManager.default.removeItem(at: fixture.directory)
    }

    @Test("a worker started while the broker is down waits for it and starts working once it is up; without --broker-wait it exits 1 at once",
          .timeLimit(.minutes(2)))
    func workerWaitsForTheBroker() async throws {
        let node = TestNode()
        try await node.run("stop")
        let fixture = try SubmitFixture.withMillisecondRetries()
        let waiting = try WorkerProcess(fixture, arguments: ["--url", node.url, "--broker-wait", "90"], name: "waiting")
        let impatient = try WorkerProcess(fixture, arguments: ["--url", node.url, "--broker-wait", "0"], name: "impatient")
        #expect(await impatient.exitStatus(timeout: .seconds(20)) == 1)
        #expect(impatient.output.contains("connection refused"), "\(impatient.output)")
        try await Task.sleep(for: .seconds(1))
        #expect(waiting.process.isRunning)
        #expect(waiting.output.contains("cannot reach the broker yet"), "\(waiting.output)")

        try await node.run("start")
        let working = try await eventually(timeout: .seconds(60)) { waiting.isWorking }
        #expect(working, "\(waiting.output)")
        await waiting.stop()
        #expect(waiting.process.terminationStatus == 0)
        try await node.run("stop")
        try? FileManager.default.removeItem(at: fixture.directory)
    }

    // In this suite, not beside the load-test ones: booting broker nodes one at a time keeps a
    // 2-core machine from timing out their starts.
    @Test("parcelctl loadtest with the broker node stopped and started mid-run: still every parcel final, none lost, none applied twice",
          .timeLimit(.minutes(4)))
    func loadTestThroughABrokerRestart() async throws {
        let node = TestNode()
        try await node.run("start")
        let script = TestNode.script
        let (status, report) = try await loadtest([
            "--parcels", "300", "--workers", "2", "--concurrency", "8", "--stage-time", "2ms-4ms", "--transient-rate", "0.05",
            "--restart-broker-at", "0.5", "--broker-script", script, "--broker-node", node.name, "--timeout", "150",
        ], url: node.url)
        try await node.run("stop")
        #expect(status == 0, "violations: \(report["violations"] ?? "")")
        #expect(report["broker_restarts"] as? Int == 1)
        #expect(report["lost"] as? Int == 0 && report["duplicated"] as? Int == 0)
        #expect(["delivered", "held", "dead_lettered"].compactMap { report[$0] as? Int }.reduce(0, +) == 300)
    }
}
