import Foundation
import ParcelCore
import ParcelTestSupport
import ParcelWorkerRuntime
import Synchronization
import Testing

/// A handler that does what the test says, attempt by attempt.
struct ScriptedHandler: StageHandler {
    let script: @Sendable (TaskEnvelope) throws(TaskFailure) -> StageOutcome

    func handle(_ task: TaskEnvelope, context: HandlerContext) async throws(TaskFailure) -> StageOutcome {
        try script(task)
    }
}

/// A handler that keeps the context it was given and fails as told.
final class ContextRecorder: StageHandler {
    let seen = Mutex<HandlerContext?>(nil)
    let failure: TaskFailure

    init(failure: TaskFailure) { self.failure = failure }

    func handle(_ task: TaskEnvelope, context: HandlerContext) async throws(TaskFailure) -> StageOutcome {
        seen.withLock { $0 = context }
        throw failure
    }
}

@Suite("Task processing: the retry story without a broker")
struct TaskProcessorTests {
    let store = InMemoryStatusStore()
    let retry = RetryPolicy(maxAttempts: 3, delays: [.milliseconds(100), .seconds(1)])
    let start = Date(timeIntervalSince1970: 1_796_000_000)

    func processor(_ overrides: [Stage: any StageHandler] = [:]) -> TaskProcessor {
        var handlers: [Stage: any StageHandler] = [:]
        for stage in Stage.allCases {
            handlers[stage] = overrides[stage] ?? SimulatedStageHandler(stage: stage, seed: 1)
        }
        return TaskProcessor(store: store, handlers: handlers, retry: retry, worker: "test/1")
    }

    /// Submits the sample parcel and returns its collection task, as parcelctl submit would publish it.
    func submitted() async throws -> TaskEnvelope {
        _ = try await store.submit([sampleParcel], at: start)
        _ = try await store.apply(.queued(.collection), to: sampleParcel.id)
        return TaskEnvelope(parcel: sampleParcel, stage: .collection, createdAt: start, submittedAt: start)
    }

    @Test("a parcel goes through all four stages; each decision publishes the next task")
    func happyPath() async throws {
        var task = try await submitted()
        let processor = processor()
        for stage in Stage.allCases {
            let decision = try await processor.process(body: task.encoded(), queueStage: stage)
            if stage == .delivery {
                // The submission time goes with it: the worker measures the end-to-end latency.
                #expect(decision == TaskDecision(outcome: .delivered, publish: nil, submittedAt: task.submittedAt))
            } else {
                guard case .next(let next) = decision.publish else {
                    Issue.record("\(stage) published \(String(describing: decision.publish))")
                    return
                }
                #expect(decision.outcome == .completed)
                #expect(next.stage == stage.next && next.attempt == 1 && next.submittedAt == start)
                // What one stage hands on is what the next stage's schema requires (times travel in ms).
                let decoded = try TaskEnvelope.decode(next.encoded()).get()
                #expect(decoded.stage == next.stage && decoded.parcel == next.parcel && decoded.taskID == next.taskID)
                task = next
            }
        }
        #expect(try await store.record(sampleParcel.id)?.status == .delivered)
        let kinds = try await store.history(sampleParcel.id).map(\.kind)
        let expected: [ParcelEvent.Kind] = [.submitted, .queued, .started, .completed, .started, .completed, .started,
                                            .completed, .started, .delivered]
        #expect(kinds == expected)
    }

    @Test("a transient failure is retried with growing delays, then succeeds")
    func transientThenSuccess() async throws {
        let task = try await submitted()
        let processor = processor([.collection: ScriptedHandler { task throws(TaskFailure) in
            if task.attempt < 3 { throw .transient("the van is late") }
            return .completed(StagePayload(collectedAt: Date(), collectionPoint: "depot"))
        }])
        var current = task
        var delays: [Duration] = []
        for _ in 1...2 {
            let decision = try await processor.process(body: current.encoded(), queueStage: .collection)
            guard case .retry(let copy, let delay, let expiration) = decision.publish else {
                Issue.record("expected a retry, got \(decision)")
                return
            }
            #expect(decision.outcome == .retried)
            #expect(try await store.record(task.parcelID)?.status == .retrying(.collection))
            #expect(copy.attempt == current.attempt + 1)
            // Jitter: the copy may expire up to 20 % before its tier's delay, never after it.
            #expect(expiration <= delay && expiration >= delay * 0.8)
            delays.append(delay)
            current = copy
        }
        #expect(delays == [.milliseconds(100), .seconds(1)])
        let last = try await processor.process(body: current.encoded(), queueStage: .collection)
        #expect(last.outcome == .completed)
        let retries = try await store.history(task.parcelID).filter { $0.kind == .retrying }
        #expect(retries.map(\.attempt) == [1, 2] && retries.allSatisfy { $0.detail == "the van is late" })
    }

    @Test("attempts exhausted: dead-lettered with the reason, and dead-lettered is not retrying")
    func attemptsExhausted() async throws {
        var task = try await submitted()
        let processor = processor([.collection: ScriptedHandler { _ throws(TaskFailure) in throw .transient("flooded road") }])
        var decision = try await processor.process(body: task.encoded(), queueStage: .collection)
        while case .retry(let copy, _, _) = decision.publish {
            task = copy
            decision = try await processor.process(body: task.encoded(), queueStage: .collection)
        }
        #expect(task.attempt == 3)
        guard case .deadLetter(let letter) = decision.publish else {
            Issue.record("expected a dead letter, got \(decision)")
            return
        }
        #expect(letter.kind == .transient && letter.attempts == 3 && letter.stage == .collection)
        #expect(letter.reason == "gave up after 3 attempts: flooded road")
        #expect(try await store.record(task.parcelID)?.status == .deadLettered(.collection, reason: letter.reason))
    }

    @Test("a permanent failure is dead-lettered at once")
    func permanent() async throws {
        let task = try await submitted()
        let processor = processor([.collection: ScriptedHandler { _ throws(TaskFailure) in throw .permanent("address unknown") }])
        let decision = try await processor.process(body: task.encoded(), queueStage: .collection)
        #expect(decision.outcome == .deadLettered)
        guard case .deadLetter(let letter) = decision.publish else {
            Issue.record("no dead letter: \(String(describing: decision.publish))")
            return
        }
        #expect(letter.kind == .permanent && letter.reason == "address unknown" && letter.attempts == 1)
    }

    @Test("malformed and schema-invalid messages are dead-lettered with the reason", arguments: [
        ("{not json", "not valid JSON"),
        (#"{"schema_version":1}"#, "task_id: is missing"),
    ])
    func invalid(body: String, reason: String) async throws {
        let decision = try await processor().process(body: Data(body.utf8), queueStage: .packaging)
        guard case .deadLetter(let letter) = decision.publish else {
            Issue.record("expected a dead letter, got \(decision)")
            return
        }
        #expect(letter.kind == .invalid && letter.stage == .packaging && letter.reason.contains(reason))
        #expect(letter.body == Data(body.utf8))
    }

    @Test("the same task twice is applied once; the second re-publishes the next task, which may be missing")
    func sameTaskTwice() async throws {
        let task = try await submitted()
        let processor = processor()
        let first = try await processor.process(body: task.encoded(), queueStage: .collection)
        let events = try await store.history(task.parcelID).count
        let second = try await processor.process(body: task.encoded(), queueStage: .collection)
        #expect(first.outcome == .completed && second.outcome == .duplicate)
        guard case .next(let again) = second.publish else {
            Issue.record("the duplicate did not re-publish the next task")
            return
        }
        #expect(again.stage == .packaging)
        #expect(try TaskEnvelope.decode(again.encoded()).get().stage == .packaging)
        #expect(try await store.history(task.parcelID).count == events)
        #expect(try await store.record(task.parcelID)?.progress.stagesDone == 1)

        // Once packaging has started, a third copy re-publishes nothing.
        _ = try await store.apply(.started(.packaging, attempt: 1), to: task.parcelID)
        #expect(try await processor.process(body: task.encoded(), queueStage: .collection).publish == nil)
    }

    @Test("a task whose worker died after starting it runs again on redelivery")
    func workerDiedMidTask() async throws {
        let task = try await submitted()
        // The dead worker got this far.
        _ = try await store.apply(.started(.collection, attempt: 1), to: task.parcelID)
        let decision = try await processor().process(body: task.encoded(), queueStage: .collection)
        #expect(decision.outcome == .completed)
        #expect(try await store.record(task.parcelID)?.status == .queued(.packaging))
    }

    @Test("inspection may hold a parcel: a final state, not an error")
    func held() async throws {
        _ = try await submitted()
        let now = Date()
        let task = TaskEnvelope(parcel: sampleParcel, stage: .inspection, createdAt: now, submittedAt: start,
                                payload: StagePayload(collectedAt: now, collectionPoint: "d", packedAt: now, box: .envelope))
        for transition in [Transition.started(.collection, attempt: 1), .completed(.collection), .started(.packaging, attempt: 1),
                           .completed(.packaging)] {
            _ = try await store.apply(transition, to: sampleParcel.id)
        }
        let processor = processor([.inspection: SimulatedStageHandler(stage: .inspection, faults: .init(holdRate: 1), seed: 3)])
        let decision = try await processor.process(body: task.encoded(), queueStage: .inspection)
        #expect(decision == TaskDecision(outcome: .held, publish: nil))
        let status = try await store.record(sampleParcel.id)?.status
        #expect(status?.state == .held && status?.isFinal == true)
        #expect(status?.stage == .inspection, "held at the task's own stage")
        // A late copy of an earlier stage changes nothing.
        let late = TaskEnvelope(parcel: sampleParcel, stage: .collection, createdAt: now, submittedAt: start)
        #expect(try await processor.process(body: late.encoded(), queueStage: .collection).outcome == .stale)
    }

    @Test("a task for a parcel the store does not know is dead-lettered")
    func unknownParcel() async throws {
        let task = TaskEnvelope(parcel: sampleParcel, stage: .collection, createdAt: start, submittedAt: start)
        let decision = try await processor().process(body: task.encoded(), queueStage: .collection)
        #expect(decision.outcome == .deadLettered)
        guard case .deadLetter(let letter) = decision.publish else {
            Issue.record("no dead letter: \(String(describing: decision.publish))")
            return
        }
        #expect(letter.kind == .permanent && letter.reason.contains("no parcel"))
    }

    @Test("retry delays climb the tiers and stay on the last")
    func retryPolicy() {
        let policy = RetryPolicy(maxAttempts: 5, delays: [.seconds(30), .seconds(1), .seconds(5)])
        let delays: [Duration] = (1...6).map(policy.delay(afterAttempt:))
        let expected: [Duration] = [.seconds(1), .seconds(5), .seconds(30), .seconds(30), .seconds(30), .seconds(30)]
        #expect(delays == expected)
        let retries: [Bool] = (1...5).map(policy.shouldRetry(afterAttempt:))
        #expect(retries == [true, true, true, true, false])
        #expect(policy.expiration(afterAttempt: 1, unit: 0) == .seconds(1))
        #expect(policy.expiration(afterAttempt: 2, unit: 0.5) == .seconds(4.5))
        #expect(policy.expiration(afterAttempt: 3, unit: 0.999) > .seconds(24))
    }

    @Test("a wait the other side asks for picks the shortest tier that long, and the copy expires no sooner")
    func retryAfterTier() {
        let policy = RetryPolicy(maxAttempts: 5, delays: [.seconds(1), .seconds(5), .seconds(30)])
        #expect(policy.delay(honouring: .milliseconds(200)) == (tier: .seconds(1), expiration: .milliseconds(200)))
        #expect(policy.delay(honouring: .seconds(5)) == (tier: .seconds(5), expiration: .seconds(5)))
        #expect(policy.delay(honouring: .seconds(7)) == (tier: .seconds(30), expiration: .seconds(7)))
        // Longer than the longest tier: the longest tier is as long as a retry can wait.
        #expect(policy.delay(honouring: .seconds(600)) == (tier: .seconds(30), expiration: .seconds(30)))
        #expect(policy.delay(honouring: .seconds(-3)) == (tier: .seconds(1), expiration: .zero))
    }

    @Test("a transient failure with a retry-after is retried after that wait, and the handler is told its key and deadline")
    func retryAfterDecision() async throws {
        let task = try await submitted()
        let recorder = ContextRecorder(failure: .transient("busy", retryAfter: .milliseconds(700)))
        let processor = TaskProcessor(
            store: store, handlers: [.collection: recorder],
            retry: retry, worker: "test/1", handlerTimeout: .seconds(12))
        let before = ContinuousClock.now
        let decision = try await processor.process(body: task.encoded(), queueStage: .collection)
        guard case .retry(let copy, let delay, let expiration) = decision.publish else {
            Issue.record("expected a retry, got \(decision)")
            return
        }
        #expect(copy.attempt == 2 && delay == .seconds(1) && expiration == .milliseconds(700))
        let context = try #require(recorder.seen.withLock { $0 })
        #expect(context.idempotencyKey == "\(sampleParcel.id):collection" && context.attempt == 1)
        #expect(context.deadline >= before + .seconds(12) && context.deadline <= ContinuousClock.now + .seconds(12))
    }

    @Test("on its last allowed delivery a task is quarantined without running; a stage already done is not")
    func quarantine() async throws {
        let task = try await submitted()
        let crashing = processor([.collection: ScriptedHandler { _ throws(TaskFailure) in
            Issue.record("the handler ran for a quarantined task")
            return .completed(StagePayload())
        }])
        let decision = try await crashing.quarantine(body: task.encoded(), queueStage: .collection, deliveries: 6)
        guard case .deadLetter(let letter) = decision.publish else {
            Issue.record("expected a dead letter, got \(decision)")
            return
        }
        #expect(letter.kind == .poison && letter.reason.contains("delivered 6 times"))
        #expect(try await store.record(task.parcelID)?.status.state == .deadLettered)

        // A redelivery of a stage that did finish is just a duplicate, however often it came.
        let other = Parcel(id: "P-2", sender: sampleParcel.sender, recipient: sampleParcel.recipient,
                           contents: sampleParcel.contents, weightGrams: 100, origin: "depot")
        _ = try await store.submit([other], at: start)
        let otherTask = TaskEnvelope(parcel: other, stage: .collection, createdAt: start, submittedAt: start)
        _ = try await processor().process(body: otherTask.encoded(), queueStage: .collection)
        let again = try await processor().quarantine(body: otherTask.encoded(), queueStage: .collection, deliveries: 6)
        #expect(again.outcome == .duplicate)
    }

    @Test("a batch is checked in one read and finished in one transaction, started and outcome together, each message getting its own decision")
    func batch() async throws {
        let grouped = GroupCommitStore(store)
        var parcels: [Parcel] = []
        for (index, weight) in [120, 300, 900, 1_500, 60].enumerated() {
            var parcel = sampleParcel
            parcel.id = "P-BATCH-\(index)"
            parcel.weightGrams = weight
            parcels.append(parcel)
        }
        _ = try await grouped.submit(parcels, at: start)
        let ids = parcels.map(\.id)
        for transition: Transition in [.queued(.collection), .started(.collection, attempt: 1), .completed(.collection),
                                       .started(.packaging, attempt: 1), .completed(.packaging)] {
            _ = try await grouped.apply(transition, to: ids, worker: nil, at: start)
        }
        // Inspection: the first parcel passes, the second is held; the others fail.
        let outcomes: [String: Result<StageOutcome, TaskFailure>] = [
            parcels[0].id: .success(.completed(StagePayload(inspectedAt: start))),
            parcels[1].id: .success(.held(reason: "a battery inside")),
            parcels[2].id: .failure(.transient("scanner busy")),
            parcels[3].id: .failure(.permanent("label unreadable")),
        ]
        let processor = TaskProcessor(store: grouped, handlers: [:], retry: retry, worker: "test/1")
        let packed = StagePayload(collectedAt: start, collectionPoint: "depot-north", packedAt: start, box: .smallBox)
        let allTasks = parcels.map {
            TaskEnvelope(parcel: $0, stage: .inspection, createdAt: start, submittedAt: start, payload: packed)
        }
        let tasks = Array(allTasks.prefix(4))
        let arrivals = tasks.map { TaskProcessor.Arrival(body: $0.encoded(), queueStage: .inspection) }
            + [TaskProcessor.Arrival(body: Data("{\"stage\":".utf8), queueStage: .inspection),
               TaskProcessor.Arrival(body: tasks[0].encoded(), queueStage: .delivery)]
        let before = grouped.written.transactions

        let begun = try await processor.begin(arrivals)
        #expect(grouped.written.transactions == before)
        #expect(begun.count == arrivals.count)
        var started: [TaskProcessor.Started] = []
        for (index, task) in tasks.enumerated() {
            guard case .run(let running) = begun[index] else {
                Issue.record("parcel \(index) was not begun: \(begun[index])")
                return
            }
            #expect(running.task == task)
            #expect(try await store.record(task.parcelID)?.status == .queued(.inspection))
            started.append(running)
        }
        // The first two take a while: the worker records them as started on their own.
        try await processor.recordStarted(Array(started.prefix(2)))
        #expect(grouped.written.transactions == before + 1)
        #expect(try await store.record(tasks[0].parcelID)?.status == .processing(.inspection))
        #expect(try await store.record(tasks[2].parcelID)?.status == .queued(.inspection))
        for (index, reason) in [(4, "not valid JSON"), (5, "inspection task arrived on the delivery queue")] {
            guard case .decided(let decision) = begun[index], case .deadLetter(let letter)? = decision.publish else {
                Issue.record("message \(index) was not dead-lettered: \(begun[index])")
                continue
            }
            #expect(decision.outcome == .deadLettered && letter.kind == .invalid && letter.reason.contains(reason))
        }

        let ran = started.map { TaskProcessor.Ran($0, body: $0.task.encoded(), result: outcomes[$0.task.parcelID]!) }
        let decisions = try await processor.finish(ran)
        #expect(grouped.written.transactions == before + 2)
        for task in tasks {
            // Started once each, whether on its own or with the outcome, at the time the run began.
            let starts = try await store.history(task.parcelID).filter { $0.kind == .started && $0.stage == .inspection }
            #expect(starts.count == 1)
            #expect(starts.allSatisfy { abs($0.at.timeIntervalSince(started[0].at)) < 0.001 })
        }
        #expect(decisions.map(\.outcome) == [.completed, .held, .retried, .deadLettered])
        guard case .next(let next)? = decisions[0].publish, case .retry(let copy, _, _)? = decisions[2].publish,
            case .deadLetter(let letter)? = decisions[3].publish
        else {
            Issue.record("unexpected follow-ups: \(decisions.map(\.publish))")
            return
        }
        #expect(next.stage == .delivery && next.parcelID == parcels[0].id && next.payload.inspectedAt == start)
        #expect(decisions[1].publish == nil)
        #expect(copy.attempt == 2 && copy.parcelID == parcels[2].id)
        #expect(letter.kind == .permanent && letter.reason == "label unreadable" && letter.parcelID == parcels[3].id)
        let statuses = try await tasks.asyncMap { try await store.record($0.parcelID)?.status }
        #expect(statuses == [.queued(.delivery), .held(.inspection, reason: "a battery inside"),
                             .retrying(.inspection), .deadLettered(.inspection, reason: "label unreadable")])

        // Two copies of one task begun and finished in the same batches: recorded once, the second
        // copy a duplicate that publishes nothing.
        let twin = allTasks[4]
        let twinArrival = TaskProcessor.Arrival(body: twin.encoded(), queueStage: .inspection)
        let twins = try await processor.begin([twinArrival, twinArrival])
        guard case .run = twins[0], case .run = twins[1] else {
            Issue.record("both copies of a started task should run: \(twins)")
            return
        }
        let twinRan = twins.map { begun in
            guard case .run(let started) = begun else { preconditionFailure() }
            return TaskProcessor.Ran(started, body: twin.encoded(), result: .success(.completed(StagePayload(inspectedAt: start))))
        }
        let again = try await processor.finish(twinRan)
        #expect(again.map(\.outcome) == [.completed, .duplicate])
        #expect(again[1].publish == nil)
        #expect(try await store.history(twin.parcelID).filter { $0.kind == .completed && $0.stage == .inspection }.count == 1)
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
