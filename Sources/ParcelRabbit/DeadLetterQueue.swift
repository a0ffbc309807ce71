import AMQP
import Foundation
import ParcelCore
import ParcelWorkerRuntime

/// A namespace's dead-letter queue, for the people who look after it: list, show, replay and purge
/// its letters (`parcelctl dlq`).
///
/// Looking never removes anything. RabbitMQ has no "peek", so a browse takes letters with
/// `basic.get` without acknowledging them, on a channel of its own, and then closes that channel:
/// the broker puts every unacknowledged letter back. What that means:
/// - The order may change. RabbitMQ hands returned messages out again before the rest, usually in
///   their old order, but does not promise it; and letters that arrive during a browse go behind.
/// - While a browse holds letters, they are invisible to any other browse and to a purge, and the
///   queue's count leaves them out.
/// - The broker counts each browse as a delivery (the letter comes back marked redelivered). The
///   dead-letter queue has no delivery limit, so nothing is ever dropped for it.
///
/// A browse takes at most as many letters as were ready when it began, so a replayed task that
/// fails again and comes back is not met twice in one run.
public struct DeadLetterQueue: Sendable {
    let connection: AMQPConnection
    let topology: ParcelTopology

    public init(connection: AMQPConnection, topology: ParcelTopology) {
        self.connection = connection
        self.topology = topology
    }

    /// The queue's name (`<namespace>.dead`).
    public var queue: String { topology.deadQueue }

    /// Letters ready in the queue (not those a browse holds at this moment). Throws NOT_FOUND when
    /// the queue does not exist (`parcelctl setup` was never run).
    public func count() async throws(AMQPError) -> Int {
        let channel = try await connection.openChannel()
        let state = try await channel.queueState(queue)
        await channel.close()
        return state.messageCount
    }

    /// The first letters of the queue, and how many there are.
    public struct Listing: Sendable {
        public var entries: [DeadLetterEntry]
        /// Letters in the queue when the browse began.
        public var count: Int
    }

    /// Reads up to `limit` letters and puts them all back.
    public func list(limit: Int) async throws -> Listing {
        var entries: [DeadLetterEntry] = []
        let count = try await browse(limit: limit) { entry, _ in
            entries.append(entry)
            return true
        }
        return Listing(entries: entries, count: count)
    }

    /// Every letter whose parcel id or task id is `id`, read whole (usually one; a worker that died
    /// between publishing a dead letter and acknowledging its task leaves two). Puts them all back.
    public func find(_ id: String) async throws -> [DeadLetterEntry] {
        var found: [DeadLetterEntry] = []
        try await browse(limit: .max) { entry, _ in
            if entry.matches(id) { found.append(entry) }
            return true
        }
        return found
    }

    /// Which letters to replay.
    public enum Selection: Sendable, Hashable {
        case all
        /// Letters whose parcel id or task id is one of these.
        case ids([String])
    }

    /// What a replay did, letter by letter.
    public struct ReplayReport: Sendable {
        /// Queued again at their stage; removed from the dead-letter queue.
        public var replayed: [DeadLetterEntry] = []
        /// Left in the queue, with the reason.
        public var refused: [(entry: DeadLetterEntry, reason: String)] = []
        /// Ids asked for that no letter has.
        public var notFound: [String] = []
        /// The connection failed part-way: the letters not reached yet stay in the queue untouched.
        public var interrupted: AMQPError?

        public var succeeded: Bool { refused.isEmpty && notFound.isEmpty && interrupted == nil }
    }

    /// Puts the selected letters' tasks back on their stage queues, so that each parcel continues
    /// from the stage where it failed.
    ///
    /// For each letter, in the order of docs/ARCHITECTURE.md, "The life of a task" (store, publish, then acknowledge):
    /// 1. A letter whose body is not a valid task is left where it is and reported: only a purge
    ///    removes it.
    /// 2. The store records the parcel queued again at the task's stage (``Transition/replayed(_:)``).
    ///    A poison letter is first recorded as dead-lettered, because the broker dead-lettered it
    ///    without the store knowing. A parcel that is no longer dead-lettered at that stage (it moved
    ///    on, or the store does not know it) is not replayed; its letter stays.
    /// 3. The task is published again with attempt 1 and a fresh creation time, with a confirm.
    /// 4. Only then is the letter acknowledged, which removes it.
    ///
    /// A crash after 2 or 3 leaves the letter in the queue, and the store saying "queued": replaying
    /// it again publishes it again, which the workers' idempotence makes harmless.
    ///
    /// - Parameters:
    ///   - store: the namespace's status store.
    ///   - replayedBy: recorded as the worker of the history's line (who replayed it).
    public func replay(_ selection: Selection, store: any StatusStore, replayedBy: String?,
                       now: @Sendable () -> Date = Date.init) async throws -> ReplayReport {
        let publisher = try await connection.openChannel()
        do {
            try await publisher.checkExchange(topology.tasksExchange)
            try await publisher.enableConfirms()
        } catch {
            await publisher.close()
            throw error
        }
        var report = ReplayReport()
        var found: Set<String> = []
        do {
            try await browse(limit: .max) { entry, delivery in
                if case .ids(let ids) = selection {
                    let matching = ids.filter(entry.matches)
                    guard !matching.isEmpty else { return true }
                    found.formUnion(matching)
                }
                switch try await replay(entry, delivery, publisher: publisher, store: store, by: replayedBy, now: now) {
                case .replayed:
                    report.replayed.append(entry)
                case .refused(let reason):
                    report.refused.append((entry, reason))
                case .interrupted(let error):
                    report.refused.append((entry, "could not publish it: \(error)"))
                    report.interrupted = error
                    return false
                }
                return true
            }
        } catch {
            await publisher.close()
            throw error
        }
        await publisher.close()
        if case .ids(let ids) = selection, report.interrupted == nil {
            var seen: Set<String> = []
            report.notFound = ids.filter { !found.contains($0) && seen.insert($0).inserted }
        }
        return report
    }

    private enum LetterOutcome {
        case replayed
        case refused(String)
        /// The broker connection is gone.
        case interrupted(AMQPError)
    }

    private func replay(_ entry: DeadLetterEntry, _ delivery: AMQPDelivery, publisher: AMQPChannel,
                        store: any StatusStore, by worker: String?, now: () -> Date) async throws -> LetterOutcome {
        if entry.erasedAt != nil { return .refused("its personal data was erased, so there is no task left to replay; purge it") }
        let task: TaskEnvelope
        switch entry.task {
        case .success(let decoded): task = decoded
        case .failure(let rejection): return .refused("not a valid task: \(rejection.reason); purge it")
        }
        var changes = [StatusChange(task.parcelID, .replayed(task.stage), worker: worker, at: now())]
        if entry.kind == .poison, let record = try await store.record(task.parcelID),
            record.status != .queued(task.stage), record.status.state != .deadLettered {
            // The broker dead-lettered it at the delivery limit: record that first, in the same transaction.
            changes.insert(StatusChange(task.parcelID, .deadLettered(task.stage, reason: "poison: \(entry.reason)"),
                                        worker: worker, at: now()), at: 0)
        }
        switch try await store.apply(changes).last! {
        case .applied, .duplicate:
            break
        case .unknownParcel:
            return .refused("the status store has no parcel '\(task.parcelID)'")
        case .stale:
            let status = try await store.record(task.parcelID)?.status
            return .refused("the parcel is \(status.map { "\($0)" } ?? "unknown"), not dead-lettered at \(task.stage); "
                + "this letter is out of date")
        }
        var copy = task
        copy.attempt = 1
        copy.createdAt = now()
        do {
            try await publisher.publish(topology.stageTask(copy))
        } catch {
            if error.isConnectionLevel || publisher.closedReason != nil { return .interrupted(error) }
            return .refused("could not publish it: \(error)")
        }
        do {
            try delivery.ack()
        } catch {
            // The task is back on its queue; the letter will be too, once the channel closes.
            return .refused("its task was queued again, but the letter could not be removed (\(error)); "
                + "replaying it again is harmless")
        }
        return .replayed
    }

    /// Removes every ready letter; returns how many. Letters a browse holds at that moment stay.
    @discardableResult
    public func purge() async throws(AMQPError) -> Int {
        let channel = try await connection.openChannel()
        let removed = try await channel.purgeQueue(queue)
        await channel.close()
        return removed
    }

    /// Takes up to `limit` letters (never more than were ready at the start) one by one and hands
    /// each to `visit` with its delivery, until `visit` returns false; then closes the channel, so
    /// that every letter `visit` did not acknowledge goes back to the queue.
    /// - Returns: how many letters were ready at the start.
    @discardableResult
    func browse(limit: Int,
                        _ visit: (DeadLetterEntry, AMQPDelivery) async throws -> Bool) async throws -> Int {
        let channel = try await connection.openChannel()
        do {
            let ready = try await channel.queueState(queue).messageCount
            var taken = 0
            while taken < min(limit, ready), let delivery = try await channel.get(queue: queue, autoAck: false) {
                taken += 1
                let entry = DeadLetterEntry(body: delivery.body, properties: delivery.properties,
                                            routingKey: delivery.routingKey, topology: topology)
                guard try await visit(entry, delivery) else { break }
            }
            await channel.close()
            return ready
        } catch {
            await channel.close()
            throw error
        }
    }
}
