import Foundation
import Logging
import ParcelCore

// MARK: - The life of a delivery, after its handler: record, publish, acknowledge

extension StageWorker {
    /// Fewer finished tasks than this are a small batch: settling waits a moment for more
    /// (``Configuration/gatherSmallBatchesFor``).
    static let smallBatch = 8

    /// Settles what has finished, a group at a time, until `settling` is closed and empty. Calls
    /// `publisherLost` as soon as a publish finds the publisher's connection gone.
    func settle(from settling: Settling, publisher: any FollowUpPublisher, slots: Slots,
                publisherLost: @escaping @Sendable (any Error) async -> Void) async {
        await withDiscardingTaskGroup { confirming in
            while var items = await settling.next() {
                if let wait = configuration.gatherSmallBatchesFor, items.count < Self.smallBatch {
                    try? await Task.sleep(for: wait)
                    items += settling.takeGathered()
                }
                let decisions = await finish(items)
                confirming.addTask {
                    if let lost = await self.publishAndAcknowledge(items, decisions, publisher: publisher) {
                        await publisherLost(lost)
                    }
                    slots.release(items.count)
                }
            }
        }
    }

    /// What each item leads to: the handlers' outcomes recorded in one transaction, tried until the
    /// store answers. Nil for items whose deliveries can no longer be settled.
    private func finish(_ items: [Settling.Item]) async -> [TaskDecision?] {
        var ran: [TaskProcessor.Ran] = []
        var deliveries: [any TaskDelivery] = []
        for item in items {
            if case .ran(let result) = item.step {
                ran.append(result)
                deliveries.append(item.delivery)
            }
        }
        var finished: [TaskDecision]?
        if !ran.isEmpty {
            finished = await untilStoreAnswers(nil, tasks: deliveries) { try await self.processor.finish(ran) }
        }
        var next = 0
        return items.map { item in
            switch item.step {
            case .decided(let decision):
                return decision
            case .ran:
                defer { next += 1 }
                return finished?[next]
            }
        }
    }

    /// Publishes the follow-ups in one go and acknowledges each delivery whose follow-up the broker
    /// confirmed (or that has none); the others go back to their queue. Returns the error if the
    /// publisher's connection failed.
    private func publishAndAcknowledge(_ items: [Settling.Item], _ decisions: [TaskDecision?],
                                       publisher: any FollowUpPublisher) async -> (any Error)? {
        var followUps: [TaskDecision.Publish] = []
        var followUpOf: [Int?] = []
        for decision in decisions {
            if let publish = decision?.publish {
                followUpOf.append(followUps.count)
                followUps.append(publish)
            } else {
                followUpOf.append(nil)
            }
        }
        let published = followUps.isEmpty ? [] : await publisher.publish(followUps)
        var lost: (any Error)?
        for (index, item) in items.enumerated() {
            guard let decision = decisions[index] else {
                requeue(item.delivery, stage: item.stage)
                continue
            }
            if let position = followUpOf[index], let error = published[position] {
                logger.warning("could not publish a task's follow-up; it goes back to its queue",
                               metadata: item.metadata(decision).merging([LogKey.error: "\(error)"]) { $1 })
                requeue(item.delivery, stage: item.stage)
                if transport.classify(error) != .fatal { lost = lost ?? error }
                continue
            }
            do {
                try item.delivery.acknowledge()
                count { $0.outcomes[decision.outcome, default: 0] += 1 }
                metrics.settled(item.stage, decision.outcome, after: ContinuousClock.now - item.received,
                                submittedAt: decision.submittedAt)
                log(decision, item)
            } catch {
                logger.warning("could not acknowledge; the broker will redeliver",
                               metadata: item.metadata(decision).merging([LogKey.error: "\(error)"]) { $1 })
                metrics.requeued(item.stage)
            }
        }
        return lost
    }

    /// One line per settled task: routine outcomes at debug, a parcel held or given up on at notice.
    private func log(_ decision: TaskDecision, _ item: Settling.Item) {
        switch decision.outcome {
        case .deadLettered:
            logger.notice("dead-lettered", metadata: item.metadata(decision))
        case .held:
            logger.notice("held for review", metadata: item.metadata(decision))
        case .completed, .delivered, .retried, .duplicate, .stale:
            logger.debug("settled", metadata: item.metadata(decision))
        }
    }

    func requeue(_ delivery: any TaskDelivery, stage: Stage) {
        count { $0.requeued += 1 }
        metrics.requeued(stage)
        try? delivery.requeue()
    }
}

extension Settling.Item {
    /// The task's identity for a log line (as far as it is known: a message that is not a valid task
    /// has none), and what became of it. Built only for lines that are logged (swift-log takes
    /// metadata as an autoclosure).
    func metadata(_ decision: TaskDecision) -> Logger.Metadata {
        var metadata: Logger.Metadata = [LogKey.stage: "\(stage.rawValue)", LogKey.outcome: "\(decision.outcome.rawValue)"]
        switch step {
        case .ran(let ran):
            metadata[LogKey.parcelID] = "\(ran.task.parcelID)"
            metadata[LogKey.attempt] = "\(ran.task.attempt)"
        case .decided:
            switch decision.publish {
            case .next(let task), .retry(let task, _, _):
                metadata[LogKey.parcelID] = "\(task.parcelID)"
            case .deadLetter(let letter):
                if let id = letter.parcelID { metadata[LogKey.parcelID] = "\(Echo.value(id))" }
                metadata[LogKey.attempt] = "\(letter.attempts)"
            case nil:
                // A redelivery of work done: read again, only when this line is logged at all.
                if case .success(let task) = TaskEnvelope.decode(delivery.body) {
                    metadata[LogKey.parcelID] = "\(task.parcelID)"
                    metadata[LogKey.attempt] = "\(task.attempt)"
                }
            }
        }
        if case .deadLetter(let letter) = decision.publish {
            metadata["dead_letter.kind"] = "\(letter.kind.rawValue)"
            metadata["dead_letter.reason"] = "\(letter.reason)"
        }
        return metadata
    }
}
