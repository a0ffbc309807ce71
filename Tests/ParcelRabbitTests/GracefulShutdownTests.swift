import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// SIGTERM reaches the worker's ServiceGroup as a graceful shutdown: handlers already running are
/// never cancelled by it, their outcomes are settled, and the worker exits 0 within its timeout.
@Suite("Graceful shutdown of a worker process", .serialized)
struct GracefulShutdownTests {
    /// A worker of the collection stage only (its follow-up stays on the packaging queue, to be
    /// counted), with one parcel's handler running: the parcel shows as processing (recorded 50 ms in).
    static func handlerRunning(stageTime: String, shutdownTimeout: String) async throws
        -> (SubmitFixture, Parcel, WorkerProcess)
    {
        let fixture = try SubmitFixture.withMillisecondRetries()
        try await fixture.declare()
        let parcel = SubmitFixture.parcels(1)[0]
        let worker = try WorkerProcess(fixture, arguments: ["--stages", "collection", "--stage-time", stageTime,
                                                            "--shutdown-timeout", shutdownTimeout], name: "slow")
        #expect(try await eventually(timeout: .seconds(30)) { worker.isWorking }, "\(worker.output)")
        try await fixture.submitWithLibrary([parcel])
        #expect(try await eventually(timeout: .seconds(10)) { try await fixture.statesCount()[.processing] == 1 })
        return (fixture, parcel, worker)
    }

    @Test("SIGTERM 1 s into a 3 s handler: the handler finishes uncancelled, its task is acknowledged once, exit 0",
          .timeLimit(.minutes(2)))
    func handlerFinishesUncancelled() async throws {
        let (fixture, parcel, worker) = try await Self.handlerRunning(stageTime: "3s", shutdownTimeout: "10")
        try await Task.sleep(for: .seconds(1))
        let signalled = ContinuousClock.now
        worker.signal(SIGTERM)
        let status = await worker.exitStatus(timeout: .seconds(15))
        let took = ContinuousClock.now - signalled
        #expect(status == 0, "\(worker.output.suffix(2000))")
        #expect(took < .seconds(10), "exit within --shutdown-timeout: \(took)")
        #expect(worker.report?.phase == "stopped")
        #expect(worker.report?.outcomes["completed"] == 1, "\(String(describing: worker.report))")

        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        let history = try await store.history(parcel.id)
        // A cancelled simulated handler fails transiently: a "retrying" line would show it.
        #expect(history.filter { $0.kind == .retrying }.isEmpty, "the handler saw a cancellation: \(history.map(\.kind))")
        #expect(history.filter { $0.kind == .completed && $0.stage == .collection }.count == 1)
        #expect(try await store.record(parcel.id)?.status == .queued(.packaging))
        await store.close()
        // Acknowledged once: nothing went back to the collection queue (an unacknowledged delivery
        // returns there when the worker's connection closes), and one follow-up was published.
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        #expect(try await channel.queueState(fixture.topology.stageQueue(.collection)).messageCount == 0)
        #expect(try await channel.queueState(fixture.topology.stageQueue(.packaging)).messageCount == 1)
        await connection.close()
        try await fixture.tearDown()
    }

    @Test("a handler still running at --shutdown-timeout: exit 0 at the deadline, its task back on its queue",
          .timeLimit(.minutes(2)))
    func deadlineReturnsTheTask() async throws {
        let (fixture, _, worker) = try await Self.handlerRunning(stageTime: "20s", shutdownTimeout: "1")
        let signalled = ContinuousClock.now
        worker.signal(SIGTERM)
        let status = await worker.exitStatus(timeout: .seconds(15))
        let took = ContinuousClock.now - signalled
        #expect(status == 0, "\(worker.output.suffix(2000))")
        #expect(took < .seconds(5), "out soon after the 1 s deadline, not after the 20 s handler: \(took)")
        // Nothing lost: the task is back on the collection queue (or, if its retry copy was published
        // before the connection closed, on its way back there).
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        let waiting = try await channel.queueState(fixture.topology.stageQueue(.collection)).messageCount
            + channel.queueState(fixture.topology.retryQueue(.collection, delay: fixture.topology.retryDelays[0])).messageCount
        #expect(waiting >= 1)
        await connection.close()
        try await fixture.tearDown()
    }

    /// The signal is SignalEscalation's alone and asks the group to shut down, which remembers a request
    /// made before it runs: sent at any moment of the start (every 40 ms from the spawn, then once the
    /// worker consumes), a SIGTERM ends the worker — killed by it before the handler is installed, else
    /// a graceful exit 0 — and never leaves it running.
    @Test("SIGTERM at any moment of the start ends the worker: killed before its handler exists, else exit 0",
          .timeLimit(.minutes(3)))
    func signalDuringStart() async throws {
        let fixture = try SubmitFixture.withMillisecondRetries()
        try await fixture.declare()
        var graceful = 0
        for round in 0...12 {
            let worker = try WorkerProcess(fixture, name: "start-\(round)")
            if round == 12 {
                #expect(try await eventually(timeout: .seconds(30)) { worker.isWorking }, "\(worker.output)")
            } else {
                try await Task.sleep(for: .milliseconds(40 * round))
            }
            worker.signal(SIGTERM)
            let status = await worker.exitStatus(timeout: .seconds(20))
            #expect(status != nil, "round \(round): still running 20 s after SIGTERM: \(worker.output.suffix(2000))")
            guard status != nil else { await worker.stop(); continue }
            if worker.process.terminationReason == .uncaughtSignal {
                #expect(status == SIGTERM, "round \(round): killed by signal \(status ?? 0)")
            } else {
                #expect(status == 0, "round \(round): exit \(status ?? 0): \(worker.output.suffix(2000))")
                graceful += 1
            }
        }
        #expect(graceful >= 1, "no round reached the signal handler")
        try await fixture.tearDown()
    }
}
