import Foundation
import Logging
import ParcelCore
import ParcelRabbit
import ParcelTestSupport
import ParcelWorkerRuntime
import Testing

/// A handler that fails permanently for one parcel at its stage.
struct RefusingHandler: StageHandler {
    let refuse: String
    let inner: any StageHandler

    func handle(_ task: TaskEnvelope, context: HandlerContext) async throws(TaskFailure) -> StageOutcome {
        if task.parcelID == refuse { throw .permanent("the depot refuses parcel \(task.parcelID)") }
        return try await inner.handle(task, context: context)
    }
}

@Suite("What a worker logs")
struct WorkerLogTests {
    @Test("every settled task's line names its parcel, stage, attempt and outcome; routine work logs below warning",
          .timeLimit(.minutes(1)))
    func taskLinesCarryTheParcel() async throws {
        let logs = CapturedLogs()
        let parcels = SubmitFixture.parcels(3)
        let refused = parcels[1].id
        let fixture = try await WorkerFixture.start(
            handlers: [.packaging: RefusingHandler(refuse: refused, inner: SimulatedStageHandler(stage: .packaging, seed: 1))],
            logger: logs.logger(label: "parcelflow.worker"))
        try await fixture.submitParcels(parcels)
        #expect(try await fixture.waitUntilFinal(parcels.map(\.id)))
        try await fixture.stop()

        let taskLines = logs.all.filter { $0.message == "settled" || $0.message == "dead-lettered" }
        // Two parcels through four stages, one through collection and then dead-lettered at packaging.
        #expect(taskLines.count == 4 + 4 + 2, "\(taskLines.map(\.message))")
        for line in taskLines {
            #expect(line.metadata[LogKey.parcelID].map { id in parcels.contains { $0.id == id } } == true, "\(line)")
            #expect(line.metadata[LogKey.stage] != nil && line.metadata[LogKey.attempt] != nil, "\(line)")
            #expect(line.metadata[LogKey.outcome] != nil && line.metadata[LogKey.endpoint] != nil, "\(line)")
        }
        let dead = try #require(taskLines.first { $0.message == "dead-lettered" })
        #expect(dead.level == .notice)
        #expect(dead.metadata[LogKey.parcelID] == refused)
        #expect(dead.metadata[LogKey.stage] == "packaging")
        #expect(logs.all.filter { $0.message == "settled" }.allSatisfy { $0.level == .debug })
        // Nothing went wrong, so nothing at warning or above.
        let loud = logs.all.filter { $0.level >= .warning }
        #expect(loud.isEmpty, "\(loud.map { "\($0.level) \($0.message)" })")
        // Connections are named by endpoint, with the dotted key (never a password).
        let opened = logs.all.filter { $0.message == "AMQP connection open" }
        #expect(!opened.isEmpty && opened.allSatisfy { $0.metadata["amqp.endpoint"]?.contains("***") == true })
    }
}
