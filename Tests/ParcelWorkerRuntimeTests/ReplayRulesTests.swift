import Foundation
import ParcelCore
import ParcelTestSupport
import ParcelWorkerRuntime
import Synchronization
import Testing

/// `Transition.replayed`: the rules every store applies when a person puts a dead letter back.
@Suite("Replaying a dead-lettered parcel")
struct ReplayRulesTests {
    static let deadAtPackaging = ParcelProgress(status: .deadLettered(.packaging, reason: "gave up after 3 attempts: jammed"),
                                                stagesDone: 1, attempts: 3)

    @Test("dead-lettered at a stage: replaying that stage queues it there again with no attempts")
    func replayApplies() {
        let (next, outcome) = Self.deadAtPackaging.applying(.replayed(.packaging))
        #expect(outcome == .applied)
        #expect(next == ParcelProgress(status: .queued(.packaging), stagesDone: 1, attempts: 0))
        #expect(!next.status.isFinal)
        // The replayed task runs from attempt 1, and the parcel goes on as if nothing happened.
        let (started, startOutcome) = next.applying(.started(.packaging, attempt: 1))
        #expect(startOutcome == .applied && started.status == .processing(.packaging) && started.attempts == 1)
        #expect(started.applying(.completed(.packaging)).0.status == .queued(.inspection))
    }

    @Test("a repeat is a duplicate; any other stage or state is stale", arguments: [
        (deadAtPackaging, Stage.collection, TransitionOutcome.stale),
        (deadAtPackaging, .inspection, .stale),
        (deadAtPackaging, .delivery, .stale),
        (ParcelProgress(status: .queued(.packaging), stagesDone: 1, attempts: 0), .packaging, .duplicate),
        (ParcelProgress(status: .processing(.packaging), stagesDone: 1, attempts: 1), .packaging, .stale),
        (ParcelProgress(status: .retrying(.packaging), stagesDone: 1, attempts: 1), .packaging, .stale),
        (ParcelProgress(status: .queued(.inspection), stagesDone: 2, attempts: 0), .packaging, .stale),
        (ParcelProgress(status: .held(.inspection, reason: "liquid"), stagesDone: 2, attempts: 1), .inspection, .stale),
        (ParcelProgress(status: .delivered, stagesDone: 4, attempts: 0), .delivery, .stale),
        (ParcelProgress.submitted, .collection, .stale),
    ])
    func replayRefused(progress: ParcelProgress, stage: Stage, expected: TransitionOutcome) {
        let (next, outcome) = progress.applying(.replayed(stage))
        #expect(outcome == expected)
        #expect(next == progress, "a refused replay changes nothing")
    }

    @Test("the history line of a replay is a `queued` event that says so")
    func replayEvent() {
        let at = Date(timeIntervalSince1970: 1_796_000_000)
        let event = ParcelEvent(.replayed(.packaging), parcelID: "P-1", worker: "parcelctl host/7", at: at)
        #expect(event == ParcelEvent(parcelID: "P-1", kind: .queued, stage: .packaging,
                                     detail: "replayed from the dead-letter queue", worker: "parcelctl host/7", at: at))
        #expect(Transition.replayed(.delivery).stage == .delivery)
    }

    @Test("exhausted, replayed, then processed: the parcel continues from the stage where it failed")
    func replayedTaskRuns() async throws {
        let store = InMemoryStatusStore()
        let failing = FailSwitch()
        var handlers: [Stage: any StageHandler] = [:]
        for stage in Stage.allCases { handlers[stage] = SimulatedStageHandler(stage: stage, seed: 1) }
        handlers[.packaging] = ScriptedHandler { task throws(TaskFailure) in
            if failing.on { throw .transient("the packing machine is jammed") }
            return .completed(StagePayload(collectedAt: task.payload.collectedAt, collectionPoint: task.payload.collectionPoint,
                                           packedAt: Date(), box: .envelope))
        }
        let processor = TaskProcessor(store: store, handlers: handlers,
                                      retry: RetryPolicy(maxAttempts: 2, delays: [.milliseconds(10)]), worker: "test/1")
        let start = Date(timeIntervalSince1970: 1_796_000_000)
        _ = try await store.submit([sampleParcel], at: start)
        _ = try await store.apply(.queued(.collection), to: sampleParcel.id)
        let collection = TaskEnvelope(parcel: sampleParcel, stage: .collection, createdAt: start, submittedAt: start)
        guard case .next(var task) = try await processor.process(body: collection.encoded(), queueStage: .collection).publish else {
            Issue.record("collection did not hand on a packaging task")
            return
        }
        var decision = try await processor.process(body: task.encoded(), queueStage: .packaging)
        while case .retry(let copy, _, _) = decision.publish {
            task = copy
            decision = try await processor.process(body: task.encoded(), queueStage: .packaging)
        }
        guard case .deadLetter(let letter) = decision.publish else {
            Issue.record("expected a dead letter, got \(decision)")
            return
        }
        #expect(try await store.record(sampleParcel.id)?.status.state == .deadLettered)

        // Someone fixes the machine and replays the letter, as `parcelctl dlq replay` does.
        failing.on = false
        #expect(try await store.apply(.replayed(.packaging), to: sampleParcel.id) == .applied)
        var replayed = try TaskEnvelope.decode(letter.body).get()
        replayed.attempt = 1
        let after = try await processor.process(body: replayed.encoded(), queueStage: .packaging)
        #expect(after.outcome == .completed)
        #expect(try await store.record(sampleParcel.id)?.status == .queued(.inspection))
        let kinds = try await store.history(sampleParcel.id).suffix(4).map(\.kind)
        #expect(kinds == [.deadLettered, .queued, .started, .completed])
    }
}

/// A switch a handler reads: fail while it is on.
final class FailSwitch: Sendable {
    private let state = Mutex(true)

    var on: Bool {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
