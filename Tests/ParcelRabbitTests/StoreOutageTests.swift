import AMQP
import Foundation
import ParcelCore
import ParcelWorkerRuntime
import ParcelRabbit
import ParcelTestSupport
import Testing

@Suite("The status store goes away under load")
struct StoreOutageTests {
    @Test("the store is locked for 30 s under load: the deliveries wait unacknowledged, then every parcel is delivered, each stage once",
          .timeLimit(.minutes(3)))
    func thirtySecondOutage() async throws {
        var handlers: [Stage: any StageHandler] = [:]
        for stage in Stage.allCases {
            handlers[stage] = SimulatedStageHandler(stage: stage, workTime: .milliseconds(10) ... .milliseconds(30), seed: 11)
        }
        let fixture = try await WorkerFixture.start(handlers: handlers)
        let parcels = SubmitFixture.parcels(200)
        try await fixture.submitParcels(parcels)

        // Another process takes the store's write lock and holds it: every write the worker tries
        // waits out its busy timeout and fails, as with a store that is down.
        let lock = try StoreLock(path: fixture.submit.storePath, seconds: 30)
        try await lock.waitUntilHeld()
        let heldAt = ContinuousClock.now
        #expect(try await fixture.waitUntilFinal(parcels.map(\.id), timeout: .seconds(90)))
        let released = await lock.exitStatus()
        #expect(released == 0, "the lock holder: \(lock.errors)")
        #expect(ContinuousClock.now - heldAt >= .seconds(29), "the parcels waited for the store")

        let counts = try await fixture.store.countsByState()
        #expect(counts == [.delivered: parcels.count], "none dead-lettered: \(counts)")
        try await fixture.submit.checkAllFinalAndAppliedOnce(parcels)
        #expect(fixture.worker.counts.storeFailures > 0)
        #expect(fixture.worker.counts.requeued == 0, "nothing went back to a queue")
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        #expect(try await channel.queueState(fixture.submit.topology.deadQueue).messageCount == 0)
        await connection.close()
        try await fixture.stop()
    }
}

/// A process holding an SQLite file's write lock (`BEGIN EXCLUSIVE`) for a while.
struct StoreLock {
    let holder: BackgroundProcess

    init(path: String, seconds: Int) throws {
        // Debian's Python: its sqlite3 module is always there.
        holder = try BackgroundProcess(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", """
            import sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
            c.execute("BEGIN EXCLUSIVE")
            print("held", flush=True)
            time.sleep(int(sys.argv[2]))
            c.execute("COMMIT")
            print("released", flush=True)
            """, path, String(seconds)], log: URL(fileURLWithPath: path + ".lock.log"))
    }

    /// Returns once the lock is taken.
    func waitUntilHeld() async throws {
        let held = try await eventually(timeout: .seconds(30)) { holder.output.contains("held") }
        try #require(held, "the lock holder: \(holder.output)")
    }

    var errors: String { holder.output }

    func exitStatus() async -> Int32? { await holder.exitStatus(timeout: .seconds(60)) }
}
