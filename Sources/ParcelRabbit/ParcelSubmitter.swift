import AMQP
import Foundation
import ParcelCore

/// Puts parcels on the collection queue, saying "queued" only for what the broker confirmed.
///
/// 1. Record the parcels as submitted (one transaction). An id the store already has is not
///    created again; if it never got past `submitted` (an earlier run stopped before the broker
///    confirmed it) it is published again, otherwise it is reported and left alone.
/// 2. Publish each parcel's collection task — persistent, `mandatory`, message-id = task id —
///    with pipelined publisher confirms: many chunks in flight, never one round trip per parcel.
/// 3. Mark the confirmed ones queued (one transaction per chunk). A parcel whose publish failed stays
///    `submitted`, so running the same file again finishes the job and duplicates nothing.
public struct ParcelSubmitter: Sendable {
    public struct Report: Sendable {
        /// Confirmed by the broker and marked queued now.
        public var queued: [String] = []
        /// Submitted earlier and already past `submitted`: not published again.
        public var alreadySubmitted: [(id: String, status: ParcelStatus)] = []
        /// Submitted earlier with other details; the stored ones were kept.
        public var conflicting: [String] = []
        /// Not confirmed; still `submitted`.
        public var failed: [(id: String, error: AMQPError)] = []
    }

    let channel: AMQPChannel
    let store: any StatusStore
    let topology: ParcelTopology
    /// Parcels per hand-over to the connection; `window` of them may wait for confirms at once.
    let chunkSize: Int
    let window: Int

    /// `channel` must have confirms enabled.
    public init(channel: AMQPChannel, store: any StatusStore, topology: ParcelTopology = ParcelTopology(),
                chunkSize: Int = 250, window: Int = 2_000) {
        self.channel = channel
        self.store = store
        self.topology = topology
        self.chunkSize = max(1, chunkSize)
        self.window = max(self.chunkSize, window)
    }

    /// Submits `parcels`; `progress` is called with (confirmed so far, to publish) as confirms arrive.
    public func submit(_ parcels: [Parcel], now: Date = Date(),
                       progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> Report {
        var report = Report()
        let outcome = try await store.submit(parcels, at: now)
        report.conflicting = parcels.map(\.id).filter { outcome.conflicting.contains($0) }
        var toPublish: [(parcel: Parcel, submittedAt: Date)] = []
        let created = Set(outcome.created)
        for parcel in parcels {
            if created.contains(parcel.id) {
                toPublish.append((parcel, now))
            } else if let status = outcome.existing[parcel.id] {
                if status == .submitted, !outcome.conflicting.contains(parcel.id),
                    let record = try await store.record(parcel.id) {
                    toPublish.append((record.parcel, record.submittedAt))
                } else if !outcome.conflicting.contains(parcel.id) {
                    report.alreadySubmitted.append((parcel.id, status))
                }
            }
        }
        let total = toPublish.count
        progress(0, total)
        guard total > 0 else { return report }

        let chunks = stride(from: 0, to: total, by: chunkSize).map { Array(toPublish[$0..<min($0 + chunkSize, total)]) }
        let channel = self.channel
        let store = self.store
        let topology = self.topology
        let inFlight = max(1, window / chunkSize)
        let results = try await withThrowingTaskGroup(of: ([String], [(String, AMQPError)]).self) { group in
            var next = 0
            var confirmed = 0
            var queued: [String] = []
            var failed: [(String, AMQPError)] = []
            func start(_ chunk: [(parcel: Parcel, submittedAt: Date)]) {
                group.addTask {
                    let messages = chunk.map { topology.collectionTask($0.parcel, submittedAt: $0.submittedAt, at: now) }
                    let outcomes = await channel.publish(contentsOf: messages)
                    var ok: [String] = []
                    var bad: [(String, AMQPError)] = []
                    for (entry, error) in zip(chunk, outcomes) {
                        if let error { bad.append((entry.parcel.id, error)) } else { ok.append(entry.parcel.id) }
                    }
                    if !ok.isEmpty { _ = try await store.apply(.queued(.collection), to: ok, worker: nil, at: Date()) }
                    return (ok, bad)
                }
            }
            while next < min(inFlight, chunks.count) {
                start(chunks[next])
                next += 1
            }
            while let (ok, bad) = try await group.next() {
                queued += ok
                failed += bad
                confirmed += ok.count + bad.count
                progress(confirmed, total)
                if next < chunks.count {
                    start(chunks[next])
                    next += 1
                }
            }
            return (queued, failed)
        }
        let order = Dictionary(uniqueKeysWithValues: toPublish.enumerated().map { ($1.parcel.id, $0) })
        report.queued = results.0.sorted { order[$0, default: 0] < order[$1, default: 0] }
        report.failed = results.1.map { (id: $0.0, error: $0.1) }
        return report
    }

}

extension ParcelTopology {
    /// The collection task for a parcel, as the broker receives it.
    public func collectionTask(_ parcel: Parcel, submittedAt: Date, at now: Date) -> AMQPOutboundMessage {
        let envelope = TaskEnvelope(parcel: parcel, stage: .collection, attempt: 1, createdAt: now, submittedAt: submittedAt)
        return AMQPOutboundMessage(
            exchange: tasksExchange, routingKey: Stage.collection.rawValue, body: envelope.encoded(),
            properties: .persistentJSON(messageID: envelope.taskID, correlationID: parcel.id), mandatory: true)
    }
}
