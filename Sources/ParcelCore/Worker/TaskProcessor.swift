import Foundation

// The life of one task in a worker — what happens, in order, so that a crash anywhere loses nothing
// and applies nothing twice (DESIGN.md §4):
//
//  1. Decode and check the message. One that is not a valid task is dead-lettered with the reason
//     (kind `invalid`); the worker goes on.
//  2. Record "started" in the store. If the store says the stage is already done, this is a
//     redelivery: acknowledge it as a duplicate — and if the parcel still waits for its next stage,
//     publish that stage's task again, because the crash may have come before it was published.
//     If the parcel is already final, acknowledge it as stale. If it was started and never finished,
//     the worker that had it died: run it again. A parcel the store does not know is dead-lettered
//     (kind `permanent`).
//  3. Run the stage's handler.
//  4. Completed: record the stage done, publish the next stage's task (delivery has none) with a
//     confirm, then acknowledge; if another copy of the task recorded it first, only acknowledge.
//     Held at inspection: record it, acknowledge.
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
    let now: @Sendable () -> Date

    public init(store: any StatusStore, handlers: [Stage: any StageHandler], retry: RetryPolicy, worker: String,
                now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.handlers = handlers
        self.retry = retry
        self.worker = worker
        self.now = now
    }

    /// What to do with one message that arrived on `queueStage`'s queue.
    public func process(body: Data, queueStage: Stage) async throws -> TaskDecision {
        let task: TaskEnvelope
        switch TaskEnvelope.decode(body) {
        case .success(let decoded): task = decoded
        case .failure(let rejection):
            return TaskDecision(outcome: .deadLettered, publish: .deadLetter(DeadLetter(
                body: body, stage: queueStage, parcelID: nil, attempts: 0, kind: .invalid, reason: rejection.reason)))
        }
        guard task.stage == queueStage else {
            return TaskDecision(outcome: .deadLettered, publish: .deadLetter(DeadLetter(
                body: body, stage: queueStage, parcelID: task.parcelID, attempts: task.attempt, kind: .invalid,
                reason: "a \(task.stage) task arrived on the \(queueStage) queue")))
        }

        switch try await store.apply(.started(task.stage, attempt: task.attempt), to: task.parcelID, worker: worker, at: now()) {
        case .applied:
            break
        case .unknownParcel:
            return TaskDecision(outcome: .deadLettered, publish: .deadLetter(DeadLetter(
                body: body, stage: task.stage, parcelID: task.parcelID, attempts: task.attempt, kind: .permanent,
                reason: "the status store has no parcel '\(task.parcelID)'")))
        case .duplicate, .stale:
            if let decision = try await redelivered(task, body: body) { return decision }
        }

        let handler = handlers[task.stage]!
        do {
            switch try await handler.handle(task) {
            case .completed(let payload):
                let recorded = try await store.apply(.completed(task.stage), to: task.parcelID, worker: worker, at: now())
                guard recorded == .applied else {
                    // Another copy of this task finished first; the worker that recorded it publishes.
                    return TaskDecision(outcome: .duplicate, publish: nil)
                }
                guard let next = task.stage.next else {
                    return TaskDecision(outcome: .delivered, publish: nil, submittedAt: task.submittedAt)
                }
                return TaskDecision(outcome: .completed, publish: .next(TaskEnvelope(
                    parcel: task.parcel, stage: next, attempt: 1, createdAt: now(), submittedAt: task.submittedAt,
                    payload: payload)))
            case .held(let reason):
                _ = try await store.apply(.held(reason: reason), to: task.parcelID, worker: worker, at: now())
                return TaskDecision(outcome: .held, publish: nil)
            }
        } catch let failure as TaskFailure {
            return try await failed(task, body: body, failure)
        }
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

    private func failed(_ task: TaskEnvelope, body: Data, _ failure: TaskFailure) async throws -> TaskDecision {
        if failure.kind == .transient, retry.shouldRetry(afterAttempt: task.attempt) {
            _ = try await store.apply(.retrying(task.stage, attempt: task.attempt, error: failure.reason), to: task.parcelID,
                                      worker: worker, at: now())
            var copy = task
            copy.attempt += 1
            copy.createdAt = now()
            return TaskDecision(outcome: .retried, publish: .retry(
                copy, delay: retry.delay(afterAttempt: task.attempt),
                expiration: retry.expiration(afterAttempt: task.attempt, unit: Double.random(in: 0..<1))))
        }
        let reason = failure.kind == .transient
            ? "gave up after \(task.attempt) attempts: \(failure.reason)" : failure.reason
        _ = try await store.apply(.deadLettered(task.stage, reason: reason), to: task.parcelID, worker: worker, at: now())
        return TaskDecision(outcome: .deadLettered, publish: .deadLetter(DeadLetter(
            body: body, stage: task.stage, parcelID: task.parcelID, attempts: task.attempt, kind: failure.kind,
            reason: reason)))
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
    /// finished stage records, rebuilt from the task.
    static func carriedPayload(_ task: TaskEnvelope) -> StagePayload {
        var payload = task.payload
        let time = task.createdAt
        switch task.stage {
        case .collection:
            payload.collectedAt = payload.collectedAt ?? time
            payload.collectionPoint = payload.collectionPoint ?? task.parcel.origin
        case .packaging:
            payload.packedAt = payload.packedAt ?? time
            payload.box = payload.box ?? .smallBox
        case .inspection:
            payload.inspectedAt = payload.inspectedAt ?? time
        case .delivery:
            break
        }
        return payload
    }
}

/// What a worker does with one message: publish this (if anything) with a confirm, then acknowledge.
public struct TaskDecision: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable, CaseIterable {
        /// A stage done, the next one published.
        case completed
        /// The delivery stage done: the parcel is delivered.
        case delivered
        case held
        case retried
        case deadLettered = "dead_lettered"
        /// A redelivery of work already done.
        case duplicate
        /// A task for a parcel that is already final.
        case stale
    }

    public enum Publish: Sendable, Hashable {
        /// The next stage's task, to the tasks exchange.
        case next(TaskEnvelope)
        /// A retry copy, to the delay queue of `delay`'s tier, expiring after `expiration` (≤ `delay`: jitter).
        case retry(TaskEnvelope, delay: Duration, expiration: Duration)
        /// To the dead-letter exchange.
        case deadLetter(DeadLetter)
    }

    public let outcome: Outcome
    public let publish: Publish?
    /// When a delivered parcel was submitted (its end-to-end latency); nil for other outcomes.
    public let submittedAt: Date?

    public init(outcome: Outcome, publish: Publish?, submittedAt: Date? = nil) {
        self.outcome = outcome
        self.publish = publish
        self.submittedAt = submittedAt
    }
}

/// A message given up on, and why: its headers in the dead-letter queue.
public struct DeadLetter: Sendable, Hashable {
    /// The message as it arrived, so that a replay sends exactly it.
    public var body: Data
    public var stage: Stage?
    public var parcelID: String?
    public var attempts: Int
    public var kind: TaskFailure.Kind
    public var reason: String

    public init(body: Data, stage: Stage?, parcelID: String?, attempts: Int, kind: TaskFailure.Kind, reason: String) {
        self.body = body
        self.stage = stage
        self.parcelID = parcelID
        self.attempts = attempts
        self.kind = kind
        self.reason = reason
    }

    public enum Header {
        public static let stage = "x-parcelflow-stage"
        public static let attempts = "x-parcelflow-attempts"
        public static let kind = "x-parcelflow-error-kind"
        public static let reason = "x-parcelflow-reason"
    }
}
