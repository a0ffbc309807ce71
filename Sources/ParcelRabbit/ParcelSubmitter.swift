import AMQP
import Foundation
import ParcelCore

/// Puts parcels on the collection queue, saying "queued" only for what the broker confirmed.
///
/// The parcels go in chunks, several in flight at once, each chunk through three steps:
/// 1. Record its parcels as submitted (one transaction). An id the store already has is not created
///    again; if it never got past `submitted` (an earlier run stopped before the broker confirmed
///    it) it is published again, otherwise it is reported and left alone.
/// 2. Publish each parcel's collection task — persistent, `mandatory`, message-id = task id — and
///    wait for the broker's confirms. Chunks overlap, so the store's work on one chunk runs while
///    another waits for the broker: never one round trip per parcel.
/// 3. Mark the confirmed ones queued (one transaction). A parcel whose publish failed stays
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

        mutating func merge(_ other: Report) {
            queued += other.queued
            alreadySubmitted += other.alreadySubmitted
            conflicting += other.conflicting
            failed += other.failed
        }
    }

    let publisher: any ConfirmedPublishing
    let store: any StatusStore
    let topology: ParcelTopology
    /// Parcels per chunk; `window` of them may be in flight at once.
    let chunkSize: Int
    let window: Int
    /// Called as each chunk's tasks go to the broker.
    let publishing: @Sendable () -> Void

    /// `publisher`: a ``ReconnectingPublisher`` (it re-sends what a lost connection left unconfirmed),
    /// or a channel with confirms enabled.
    public init(publisher: any ConfirmedPublishing, store: any StatusStore, topology: ParcelTopology = ParcelTopology(),
                chunkSize: Int = 250, window: Int = 2_000, publishing: @escaping @Sendable () -> Void = {}) {
        self.publisher = publisher
        self.store = store
        self.topology = topology
        self.chunkSize = max(1, chunkSize)
        self.window = max(self.chunkSize, window)
        self.publishing = publishing
    }

    /// Submits `parcels` (distinct ids); `progress` is called with (settled so far, total) as chunks finish.
    public func submit(_ parcels: [Parcel], now: Date = Date(),
                       progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> Report {
        let total = parcels.count
        progress(0, total)
        let chunks = stride(from: 0, to: total, by: chunkSize).map { Array(parcels[$0..<min($0 + chunkSize, total)]) }
        let inFlight = max(1, window / chunkSize)
        var reports = [Report?](repeating: nil, count: chunks.count)
        try await withThrowingTaskGroup(of: (Int, Report).self) { group in
            var next = 0
            var settled = 0
            func startNext() {
                let index = next
                group.addTask { (index, try await submitChunk(chunks[index], now: now)) }
                next += 1
            }
            while next < min(inFlight, chunks.count) { startNext() }
            while let (index, report) = try await group.next() {
                reports[index] = report
                settled += chunks[index].count
                progress(settled, total)
                if next < chunks.count { startNext() }
            }
        }
        var report = Report()
        for chunkReport in reports { report.merge(chunkReport!) }
        return report
    }

    private func submitChunk(_ parcels: [Parcel], now: Date) async throws -> Report {
        var report = Report()
        let outcome = try await store.submit(parcels, at: now)
        var toPublish: [(parcel: Parcel, submittedAt: Date)] = []
        let created = Set(outcome.created)
        for parcel in parcels {
            if created.contains(parcel.id) {
                toPublish.append((parcel, now))
            } else if outcome.conflicting.contains(parcel.id) {
                report.conflicting.append(parcel.id)
            } else if let status = outcome.existing[parcel.id] {
                if status == .submitted, let record = try await store.record(parcel.id), let stored = record.parcel {
                    toPublish.append((stored, record.submittedAt))
                } else {
                    report.alreadySubmitted.append((parcel.id, status))
                }
            }
        }
        guard !toPublish.isEmpty else { return report }
        publishing()
        let results = await publisher.publish(contentsOf: toPublish.map {
            topology.collectionTask($0.parcel, submittedAt: $0.submittedAt, at: now)
        })
        for (entry, error) in zip(toPublish, results) {
            if let error { report.failed.append((entry.parcel.id, error)) } else { report.queued.append(entry.parcel.id) }
        }
        if !report.queued.isEmpty { _ = try await store.apply(.queued(.collection), to: report.queued, worker: nil, at: Date()) }
        return report
    }
}

extension ParcelTopology {
    /// A stage's task as it goes on the wire: to the tasks exchange, routed by stage, persistent and
    /// mandatory, message-id = task id, correlation-id = parcel id.
    public func stageTask(_ task: TaskEnvelope) -> AMQPOutboundMessage {
        AMQPOutboundMessage(
            exchange: tasksExchange, routingKey: task.stage.rawValue, body: task.encoded(),
            properties: .persistentJSON(messageID: task.taskID, correlationID: task.parcelID), mandatory: true)
    }

    /// The collection task for a parcel, as the broker receives it.
    public func collectionTask(_ parcel: Parcel, submittedAt: Date, at now: Date) -> AMQPOutboundMessage {
        stageTask(TaskEnvelope(parcel: parcel, stage: .collection, attempt: 1, createdAt: now, submittedAt: submittedAt))
    }
}
