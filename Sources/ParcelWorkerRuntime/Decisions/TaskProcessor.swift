import Foundation
import ParcelCore

// The life of one task in a worker — what happens, in order, so that a crash anywhere loses nothing
// and applies nothing twice (docs/ARCHITECTURE.md, "The life of a task"):
//
//  1. Decode and check the message. One that is not a valid task is dead-lettered with the reason
//     (kind `invalid`); the worker goes on.
//  2. Check the task against the store. If the stage is already done, this is a redelivery:
//     acknowledge it as a duplicate — and if the parcel still waits for its next stage, publish
//     that stage's task again, because the crash may have come before it was published. If the
//     parcel is already final, acknowledge it as stale. If it was started and never finished, the
//     worker that had it died: run it again. A parcel the store does not know is dead-lettered
//     (kind `permanent`).
//  3. Run the stage's handler. "Started" is recorded in the same write as the outcome (step 4 to
//     6): one write per task, not two. A handler still running after a moment is recorded as
//     started on its own (``TaskProcessor/recordStarted(_:)``), so the parcel shows as processing.
//     Either way it is recorded once: the rules make a second "started" a duplicate.
//  4. Completed: record the stage done, publish the next stage's task (delivery has none) with a
//     confirm, then acknowledge; if another copy of the task recorded it first, only acknowledge.
//     Held (at any stage: the handler kept the parcel back for a person): record it at the task's
//     stage, acknowledge. `parcelctl release` sends it on, `parcelctl return` ends it.
//  5. Failed for a passing reason (transient), attempts left: record "retrying", publish a copy with
//     attempt + 1 to the delay queue of the attempt's tier (expiring up to 20 % early: jitter) with a
//     confirm, then acknowledge. The copy comes back to the stage queue when it expires and starts
//     again at step 1.
//  6. Failed permanently, or transiently with no attempts left: record "dead-lettered" with the
//     reason, publish the message to the dead-letter exchange with headers saying stage, attempts,
//     kind and reason, with a confirm, then acknowledge. `parcelctl dlq replay` puts it back.
//  7. A message that kills the worker before step 4 is redelivered by the broker, which counts the
//     deliveries. On the last one the stage queue's delivery limit allows, the worker does not run it
//     again: it records "dead-lettered" and dead-letters it itself (kind `poison`), so the store knows.
//     Should a worker die even then, the broker dead-letters it at the limit.
//
// The processor decides; the caller publishes what it returns and acknowledges only once the broker
// confirmed it. A store error is thrown: the caller leaves the message unacknowledged for redelivery.

/// Decides what one task leads to. Pure of any broker: it reads and writes the status store and
/// returns what to publish before the acknowledgement.
public struct TaskProcessor: Sendable {
    let store: any StatusStore
    let handlers: [Stage: any StageHandler]
    let retry: RetryPolicy
    let worker: String
    /// How long a handler has for one task: its context's deadline.
    let handlerTimeout: Duration
    let now: @Sendable () -> Date

    public init(store: any StatusStore, handlers: [Stage: any StageHandler], retry: RetryPolicy, worker: String,
                handlerTimeout: Duration = .seconds(30), now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.handlers = handlers
        self.retry = retry
        self.worker = worker
        self.handlerTimeout = handlerTimeout
        self.now = now
    }

    /// What to do with one message that arrived on `queueStage`'s queue: ``begin(_:)``, the handler,
    /// ``finish(_:)`` — the three steps a worker takes for many messages at once.
    public func process(body: Data, queueStage: Stage) async throws -> TaskDecision {
        switch try await begin([Arrival(body: body, queueStage: queueStage)])[0] {
        case .decided(let decision):
            return decision
        case .run(let started):
            return try await finish([Ran(started, body: body, result: await run(started.task))])[0]
        }
    }

    /// A message as it arrived: its body and the stage whose queue it came from.
    public struct Arrival: Sendable {
        public var body: Data
        public var queueStage: Stage

        public init(body: Data, queueStage: Stage) {
            self.body = body
            self.queueStage = queueStage
        }
    }

    /// Where a message stands after ``begin(_:)``.
    public enum Begun: Sendable {
        /// Nothing to run: not a valid task, a redelivery of work done, an unknown parcel.
        case decided(TaskDecision)
        /// To run: the stage's handler (``run(_:)``), then ``finish(_:)``.
        case run(Started)
    }

    /// A task about to run, and since when (the time its "started" line gets).
    public struct Started: Sendable, Hashable {
        public var task: TaskEnvelope
        public var at: Date

        public init(_ task: TaskEnvelope, at: Date) {
            self.task = task
            self.at = at
        }
    }

    /// Steps 1 and 2 for many messages: decodes each, then checks every valid one against the store
    /// in one read. One result per arrival, in order.
    public func begin(_ arrivals: [Arrival]) async throws -> [Begun] {
        var begun = [Begun?](repeating: nil, count: arrivals.count)
        var starting: [(index: Int, task: TaskEnvelope)] = []
        for (index, arrival) in arrivals.enumerated() {
            switch TaskEnvelope.decode(arrival.body) {
            case .failure(let rejection):
                begun[index] = .decided(TaskDecision(outcome: .deadLettered, publish: .deadLetter(DeadLetter(
                    body: arrival.body, stage: arrival.queueStage, parcelID: nil, attempts: 0, kind: .invalid,
                    reason: rejection.reason))))
            case .success(let task) where task.stage != arrival.queueStage:
                begun[index] = .decided(TaskDecision(outcome: .deadLettered, publish: .deadLetter(DeadLetter(
                    body: arrival.body, stage: arrival.queueStage, parcelID: task.parcelID, attempts: task.attempt,
                    kind: .invalid, reason: "a \(task.stage) task arrived on the \(arrival.queueStage) queue"))))
            case .success(let task):
                starting.append((index, task))
            }
        }
        if !starting.isEmpty {
            let time = now()
            let current = try await store.check(starting.map(\.task.parcel))
            for (index, task) in starting {
                let body = arrivals[index].body
                guard let check = current[task.parcelID] else {
                    begun[index] = .decided(TaskDecision(outcome: .deadLettered, publish: .deadLetter(DeadLetter(
                        body: body, stage: task.stage, parcelID: task.parcelID, attempts: task.attempt, kind: .permanent,
                        reason: "the status store has no parcel '\(task.parcelID)'"))))
                    continue
                }
                guard check.sameParcel else {
                    // Forged or damaged: whoever published it must not change where a parcel goes.
                    begun[index] = .decided(TaskDecision(outcome: .deadLettered, publish: .deadLetter(DeadLetter(
                        body: body, stage: task.stage, parcelID: task.parcelID, attempts: task.attempt, kind: .invalid,
                        reason: "the task's parcel differs from the one submitted as '\(task.parcelID)'"))))
                    continue
                }
                let progress = check.progress
                // What recording "started" now would do; it is recorded with the outcome.
                let run = Begun.run(Started(task, at: time))
                switch progress.applying(.started(task.stage, attempt: task.attempt)).1 {
                case .applied, .unknownParcel:
                    begun[index] = run
                case .duplicate, .stale:
                    begun[index] = try await redelivered(task, body: body).map(Begun.decided) ?? run
                }
            }
        }
        return begun.map { $0! }
    }

    /// Step 3: the stage's handler.
    public func run(_ task: TaskEnvelope) async -> Result<StageOutcome, TaskFailure> {
        do throws(TaskFailure) {
            return .success(try await handlers[task.stage]!.handle(task, context: HandlerContext(task, timeout: handlerTimeout)))
        } catch {
            return .failure(error)
        }
    }

    /// Records "started" for tasks whose handlers are taking a while (the parcel shows as processing),
    /// in one transaction. ``finish(_:)`` records it too, for all: whichever comes second is a duplicate.
    public func recordStarted(_ running: [Started]) async throws {
        _ = try await store.apply(running.map { started in
            StatusChange(started.task.parcelID, .started(started.task.stage, attempt: started.task.attempt),
                         worker: worker, at: started.at)
        })
    }

    /// A task whose handler has run, and what it returned.
    public struct Ran: Sendable {
        public var started: Started
        /// The message as it arrived (a dead letter carries it).
        public var body: Data
        public var result: Result<StageOutcome, TaskFailure>

        public var task: TaskEnvelope { started.task }

        public init(_ started: Started, body: Data, result: Result<StageOutcome, TaskFailure>) {
            self.started = started
            self.body = body
            self.result = result
        }
    }

    /// Steps 4 to 6 for many tasks: records every one as started (unless it already is) and its
    /// outcome, all in one store transaction, and returns what each leads to, in order.
    public func finish(_ ran: [Ran]) async throws -> [TaskDecision] {
        let time = now()
        var changes: [StatusChange] = []
        var decisions: [(TransitionOutcome) -> TaskDecision] = []
        changes.reserveCapacity(2 * ran.count)
        decisions.reserveCapacity(ran.count)
        for item in ran {
            let task = item.task
            changes.append(StatusChange(task.parcelID, .started(task.stage, attempt: task.attempt), worker: worker,
                                        at: item.started.at))
            let transition: Transition
            switch item.result {
            case .success(.completed(let payload)):
                transition = .completed(task.stage)
                decisions.append { recorded in
                    // Not applied: another copy of this task finished first, and the worker that
                    // recorded it publishes.
                    guard recorded == .applied else { return TaskDecision(outcome: .duplicate, publish: nil) }
                    guard let next = task.stage.next else {
                        return TaskDecision(outcome: .delivered, publish: nil, submittedAt: task.submittedAt)
                    }
                    return TaskDecision(outcome: .completed, publish: .next(TaskEnvelope(
                        parcel: task.parcel, stage: next, attempt: 1, createdAt: time, submittedAt: task.submittedAt,
                        payload: payload)))
                }
            case .success(.held(let reason)):
                // Held at the task's own stage: any handler may hold (inspection's rules, a carrier's 423).
                transition = .held(task.stage, reason: reason)
                decisions.append { _ in TaskDecision(outcome: .held, publish: nil) }
            case .failure(let failure) where failure.kind == .transient && retry.shouldRetry(afterAttempt: task.attempt):
                transition = .retrying(task.stage, attempt: task.attempt, error: failure.reason)
                var copy = task
                copy.attempt += 1
                copy.createdAt = time
                // A wait the other side asked for is honoured (within the longest tier); else backoff.
                let wait = failure.retryAfter.map(retry.delay(honouring:))
                    ?? (tier: retry.delay(afterAttempt: task.attempt),
                        expiration: retry.expiration(afterAttempt: task.attempt, unit: Double.random(in: 0..<1)))
                let publish = TaskDecision.Publish.retry(copy, delay: wait.tier, expiration: wait.expiration)
                decisions.append { _ in TaskDecision(outcome: .retried, publish: publish) }
            case .failure(let failure):
                let reason = failure.kind == .transient
                    ? "gave up after \(task.attempt) attempts: \(failure.reason)" : failure.reason
                transition = .deadLettered(task.stage, reason: reason)
                let letter = DeadLetter(body: item.body, stage: task.stage, parcelID: task.parcelID,
                                        attempts: task.attempt, kind: failure.kind, reason: reason)
                decisions.append { _ in TaskDecision(outcome: .deadLettered, publish: .deadLetter(letter)) }
            }
            changes.append(StatusChange(task.parcelID, transition, worker: worker, at: time))
        }
        guard !changes.isEmpty else { return [] }
        let outcomes = try await store.apply(changes)
        // Each task's second change is its outcome; the first, "started", decides nothing.
        return decisions.enumerated().map { index, decide in decide(outcomes[2 * index + 1]) }
    }

    /// A message delivered `deliveries` times without being settled — it keeps stopping workers. If
    /// its stage is still to do, it is dead-lettered (kind `poison`) without running it again; anything
    /// else (not a task, a stage already done, a final parcel) is handled as ``process(body:queueStage:)``
    /// would, which runs no handler for those.
    public func quarantine(body: Data, queueStage: Stage, deliveries: Int) async throws -> TaskDecision {
        guard case .success(let task) = TaskEnvelope.decode(body), task.stage == queueStage,
            let record = try await store.record(task.parcelID),
            !record.status.isFinal, record.progress.stagesDone <= task.stage.index
        else { return try await process(body: body, queueStage: queueStage) }
        let reason = "delivered \(deliveries) times without finishing: it kept stopping workers"
        _ = try await store.apply(.deadLettered(task.stage, reason: reason), to: task.parcelID, worker: worker, at: now())
        return TaskDecision(outcome: .deadLettered, publish: .deadLetter(DeadLetter(
            body: body, stage: task.stage, parcelID: task.parcelID, attempts: task.attempt, kind: .poison, reason: reason)))
    }

    /// A task the store has seen before: what to do instead of running it, or nil to run it after all.
    private func redelivered(_ task: TaskEnvelope, body: Data) async throws -> TaskDecision? {
        guard let record = try await store.record(task.parcelID) else {
            return TaskDecision(outcome: .duplicate, publish: nil)
        }
        switch record.status {
        case .processing(let stage) where stage == task.stage:
            // Started and never finished: the worker that had it died (the broker redelivers only then).
            return nil
        case .queued(let stage) where stage == task.stage.next:
            // Done, and the next stage has not started: its task may never have been published.
            return TaskDecision(outcome: .duplicate, publish: .next(TaskEnvelope(
                parcel: task.parcel, stage: stage, attempt: 1, createdAt: now(), submittedAt: task.submittedAt,
                payload: Self.carriedPayload(task))))
        case .deadLettered(let stage, let reason) where stage == task.stage:
            // Recorded as dead, but the dead letter may never have been published.
            return TaskDecision(outcome: .duplicate, publish: .deadLetter(DeadLetter(
                body: body, stage: stage, parcelID: task.parcelID, attempts: task.attempt, kind: .permanent, reason: reason)))
        default:
            return TaskDecision(outcome: record.status.isFinal ? .stale : .duplicate, publish: nil)
        }
    }

    /// The payload a re-published next task carries when the handler's own output is gone: what the
    /// finished stage records, rebuilt from the task (each field's stand-in in `StagePayload.fields`;
    /// times are the task's `createdAt`).
    static func carriedPayload(_ task: TaskEnvelope) -> StagePayload {
        task.payload.fillingIn(recordedBy: task.stage, from: task, at: task.createdAt)
    }
}
