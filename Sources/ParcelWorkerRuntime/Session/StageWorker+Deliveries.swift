import Foundation
import Logging
import ParcelCore

// MARK: - The life of a delivery, up to its handler
//
// Work is paid for per batch, not per message (docs/ARCHITECTURE.md, "The life of a task"): the
// deliveries that arrived together are checked against the store in one read; each runs its handler
// as a task of its own, so a slow one holds back nobody; whatever has finished by the time the
// settling loop comes round is recorded (started and outcome) in one transaction, its follow-ups
// published in one go, and each delivery acknowledged once its follow-up is confirmed
// (StageWorker+Settling.swift). While one group waits for its confirms, the next is recorded.
// Handlers of a batch still running after `recordStartedAfter` are recorded as started in one
// transaction of their own.

extension StageWorker {
    /// Takes a stage's deliveries until its consumer ends (cleanly: returns; the connection failed:
    /// throws), beginning each batch and starting its handlers. Returns once every handler is done.
    func work(_ stage: Stage, _ consumer: any TaskConsumer, slots: Slots, settling: Settling) async throws {
        let ended = await withDiscardingTaskGroup { handlers -> (any Error)? in
            var deliveries = consumer.batches()
            do {
                while let batch = try await deliveries.next() {
                    var start = 0
                    while start < batch.count {
                        // As many as there are free slots (at least one), so a batch never waits for
                        // slots that only its own tasks would free.
                        let granted = await slots.acquire(upTo: batch.count - start)
                        let part = batch[start ..< start + granted]
                        start += granted
                        let received = ContinuousClock.now
                        var running: [(any TaskDelivery, TaskProcessor.Started)] = []
                        for (delivery, begun) in await begin(part, stage: stage, slots: slots) {
                            switch begun {
                            case .decided(let decision):
                                settling.add(Settling.Item(delivery: delivery, stage: stage, received: received,
                                                           step: .decided(decision)))
                            case .run(let started):
                                running.append((delivery, started))
                            }
                        }
                        guard !running.isEmpty else { continue }
                        let unfinished = Unfinished(running.map(\.1))
                        for (index, (delivery, started)) in running.enumerated() {
                            handlers.addTask {
                                let result = await self.processor.run(started.task)
                                await unfinished.finished(index)
                                settling.add(Settling.Item(
                                    delivery: delivery, stage: stage, received: received,
                                    step: .ran(TaskProcessor.Ran(started, body: delivery.body, result: result))))
                            }
                        }
                        handlers.addTask { await self.recordStarted(unfinished) }
                    }
                }
                return nil
            } catch {
                return error
            }
        }
        if let ended { throw ended }
    }

    /// Checks the deliveries against the store, in one read. While the store fails they are held,
    /// unacknowledged, and the store is tried again (``untilStoreAnswers(_:tasks:_:)``); if the
    /// session ends meanwhile, none is returned and the broker gives them to another consumer.
    private func begin(_ deliveries: ArraySlice<any TaskDelivery>, stage: Stage, slots: Slots) async
        -> [(any TaskDelivery, TaskProcessor.Begun)]
    {
        metrics.started(stage, count: deliveries.count)
        let redelivered = deliveries.count { $0.redelivered }
        if redelivered > 0 { count { $0.redelivered += redelivered } }
        let limit = configuration.deliveryLimit
        var regular: [any TaskDelivery] = []
        var refused: [(any TaskDelivery, TaskProcessor.Begun)] = []
        var quarantined: [(delivery: any TaskDelivery, deliveries: Int)] = []
        for delivery in deliveries {
            if let refusal = delivery.refusalReason {
                refused.append((delivery, .decided(Self.refused(refusal, stage: stage))))
            } else if let returned = Self.clamped(delivery.returnedCount, limit: limit), returned >= limit {
                // On the last delivery the queue's limit allows, the task is quarantined instead of run.
                quarantined.append((delivery, returned + 1))
            } else {
                regular.append(delivery)
            }
        }
        let checked = await untilStoreAnswers(stage, tasks: Array(deliveries)) {
            () async throws -> [(any TaskDelivery, TaskProcessor.Begun)] in
            var begun: [(any TaskDelivery, TaskProcessor.Begun)] = []
            for (delivery, count) in quarantined {
                begun.append((delivery, .decided(try await self.processor.quarantine(
                    body: delivery.body, queueStage: stage, deliveries: count))))
            }
            let started = try await self.processor.begin(regular.map { TaskProcessor.Arrival(body: $0.body, queueStage: stage) })
            return begun + zip(regular, started).map { ($0, $1) }
        }
        guard let checked else {
            for delivery in quarantined.map(\.delivery) + regular { requeue(delivery, stage: stage) }
            slots.release(deliveries.count - refused.count)
            return refused
        }
        return refused + checked
    }

    /// A returned count as the broker gave it, in `0...limit`: a count out of range (the header is
    /// anyone's to write) never reaches the arithmetic.
    package static func clamped(_ returned: Int?, limit: Int) -> Int? {
        returned.map { min(max($0, 0), limit) }
    }

    /// A delivery the transport refused (its body or headers were over the limits): dead-lettered as
    /// invalid through a small copy that carries no body.
    static func refused(_ reason: String, stage: Stage) -> TaskDecision {
        TaskDecision(outcome: .deadLettered, publish: .deadLetter(DeadLetter(
            body: Data(), stage: stage, parcelID: nil, attempts: 0, kind: .invalid, reason: reason)))
    }

    /// Runs a store operation for `tasks` until it succeeds. A failing store is waited out with the
    /// deliveries held unacknowledged: requeueing them would count against each queue's delivery limit
    /// and turn an outage into poison. Nil when the deliveries can no longer be settled (the session
    /// ended: the broker hands them to another consumer), so there is nothing left to do for them.
    func untilStoreAnswers<T>(_ stage: Stage?, tasks: [any TaskDelivery], _ operation: () async throws -> T) async -> T? {
        var delay = configuration.storeRetryDelay.lowerBound
        var failures = 0
        while true {
            do {
                let result = try await operation()
                if failures > 0 {
                    logger.notice("the status store answers again", metadata: [
                        LogKey.stage: "\(stage?.rawValue ?? "all")", LogKey.tasks: "\(tasks.count)", "failures": "\(failures)"])
                }
                return result
            } catch {
                failures += 1
                if tasks.contains(where: { !$0.canSettle }) { return nil }
                if failures == 1 || failures.isMultiple(of: 10) {
                    logger.error("status store error; holding the tasks and trying again", metadata: [
                        LogKey.stage: "\(stage?.rawValue ?? "all")", LogKey.tasks: "\(tasks.count)", LogKey.error: "\(error)",
                        "failures": "\(failures)", LogKey.delay: "\(delay)"])
                }
                metrics.storeFailed()
                count { $0.storeFailures += 1 }
                // Not cut short by a shutdown, which waits for these tasks.
                await Self.pause(for: delay)
                delay = min(delay * 2, configuration.storeRetryDelay.upperBound)
            }
        }
    }

    /// Sleeps for `duration` even when the calling task is cancelled.
    static func pause(for duration: Duration) async {
        await Task.detached { try? await Task.sleep(for: duration) }.value
    }

    /// Once `recordStartedAfter` has passed (or the worker is stopping), records the tasks whose
    /// handlers are still running as started. A store failure is only logged: their outcome records it.
    private func recordStarted(_ unfinished: Unfinished) async {
        if unfinished.allFinished { return }
        try? await Task.sleep(for: configuration.recordStartedAfter)
        await unfinished.recordRunning { running in
            do {
                try await self.processor.recordStarted(running)
            } catch {
                self.logger.warning("could not record running tasks as started",
                                    metadata: [LogKey.tasks: "\(running.count)", LogKey.error: "\(error)"])
            }
        }
    }
}
