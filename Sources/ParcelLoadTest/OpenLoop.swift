import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import Synchronization

/// An open-loop run's submitting: each parcel published when the schedule says it is due, and read
/// back from the store afterwards to measure it from that due time.
///
/// 1. The loop wakes when the next parcel is due, at most every ``tick``
///    (``SendSchedule/wake(for:after:tick:)``), takes whatever is due by now in chunks of at most ``chunk``, and hands each chunk to a task of its own: the usual
///    ``ParcelSubmitter`` path (recorded submitted, published with confirms through the
///    ``ReconnectingPublisher``, marked queued). It never waits for a confirm before the next due chunk
///    goes, so a slow confirm does not delay later sends.
/// 2. A chunk whose publish failed is tried again by its own task, until confirmed (the parcels stay
///    `submitted` in the store meanwhile, as with the closed-loop submitter).
/// 3. At most ``maxChunksInFlight`` chunks wait for the broker at once: past that the loop waits, and
///    the delay it adds shows in the latencies, which run from the due time, not from the send.
public final class OpenLoop: Sendable {
    public let schedule: SendSchedule
    /// The shortest sleep between two wakes: at high rates, the parcels due in a tick go as one chunk.
    /// Each chunk costs two store transactions and a publish: at 2,750/s a 2 ms tick made 500 chunks
    /// of 5 to 6 a second, `parcelctl` used 0.16 of a core and its transactions contended with the
    /// workers' for the store's write lock; 10 ms makes 100 of 27 to 28 at half the CPU. A parcel
    /// waits at most one tick past its due time, and that wait counts in its latency.
    let tick: Duration = .milliseconds(10)
    let chunk = 50
    let maxChunksInFlight = 256
    /// Parcels whose histories one store read brings back at the end.
    static let historyChunk = 1_000
    private let started = Mutex<Date?>(nil)
    private let inFlight = Atomic<Int>(0)
    private let confirmed = Atomic<Int>(0)
    /// Chunks handed to the submitter: the parcels each carried on average is the batching the store
    /// and the broker saw.
    private let chunks = Atomic<Int>(0)

    public init(schedule: SendSchedule) {
        self.schedule = schedule
    }

    /// When parcel 0 was due: the start of the schedule (nil before the run began).
    public var start: Date? { started.withLock { $0 } }

    /// Submits `parcels` (as many as the schedule has) on the schedule, until all are confirmed or the
    /// task is cancelled.
    func submit(_ parcels: [Parcel], publisher: ReconnectingPublisher, store: any StatusStore, topology: ParcelTopology,
                progress: Submitted) async throws {
        let clock = ContinuousClock()
        let begin = clock.now
        started.withLock { $0 = Date() }
        let count = min(parcels.count, schedule.count)
        try await withThrowingDiscardingTaskGroup { group in
            var next = 0
            var lastWake = begin
            while next < count {
                try Task.checkCancellation()
                let due = schedule.due(from: next, at: clock.now - begin, limit: chunk)
                guard !due.isEmpty else {
                    try await Task.sleep(until: begin + schedule.wake(for: next, after: lastWake - begin, tick: tick), clock: clock)
                    lastWake = clock.now
                    continue
                }
                while inFlight.load(ordering: .relaxed) >= maxChunksInFlight {
                    try await Task.sleep(for: .milliseconds(1))
                }
                let batch = Array(parcels[due])
                inFlight.add(1, ordering: .relaxed)
                chunks.add(1, ordering: .relaxed)
                group.addTask {
                    defer { self.inFlight.subtract(1, ordering: .relaxed) }
                    try await self.submitChunk(batch, publisher: publisher, store: store, topology: topology,
                                               progress: progress)
                }
                next = due.upperBound
            }
        }
    }

    private func submitChunk(_ batch: [Parcel], publisher: ReconnectingPublisher, store: any StatusStore,
                             topology: ParcelTopology, progress: Submitted) async throws {
        var remaining = batch
        while !remaining.isEmpty {
            do {
                let report = try await ParcelSubmitter(publisher: publisher, store: store, topology: topology,
                                                       chunkSize: chunk, publishing: progress.publishing)
                    .submit(remaining)
                let failed = Set(report.failed.map(\.id))
                let done = remaining.count - failed.count
                progress.set(confirmed.add(done, ordering: .relaxed).newValue)
                remaining = remaining.filter { failed.contains($0.id) }
            } catch {
                // The store failed: the same parcels again, after a pause (cancellation ends it).
            }
            if !remaining.isEmpty { try await Task.sleep(for: .milliseconds(250)) }
        }
    }

    /// Reads each parcel's history from the store and measures it from its due time: a chunk of
    /// parcels per read (``StatusStore/histories(_:)``), not a read per parcel.
    func report(parcelIDs: [String], store: any StatusStore) async throws -> OpenLoopReport {
        let start = self.start ?? Date()
        var times: [ParcelTimes] = []
        times.reserveCapacity(parcelIDs.count)
        for first in stride(from: 0, to: parcelIDs.count, by: Self.historyChunk) {
            let chunk = first..<min(first + Self.historyChunk, parcelIDs.count)
            let histories = try await store.histories(Array(parcelIDs[chunk]))
            for index in chunk {
                // A parcel the store does not have (never submitted) has no times.
                times.append(ParcelTimes(intended: start.addingTimeInterval(schedule.seconds(of: index)),
                                         history: histories[parcelIDs[index]] ?? []))
            }
        }
        var report = OpenLoopReport(schedule: schedule, start: start, parcels: times)
        report.submitChunks = chunks.load(ordering: .relaxed)
        return report
    }
}

/// One parcel's times, as the store has them, and when it was due.
public struct ParcelTimes: Sendable, Equatable {
    /// When the schedule said to send it.
    public var intended: Date
    /// When the submitter recorded it (the store's submission time).
    public var submitted: Date?
    /// When each stage was first completed (delivery: delivered).
    public var completed: [Stage: Date] = [:]
    /// When it became final: its last delivered, held, dead-lettered or returned line.
    public var final: Date?

    public init(intended: Date, submitted: Date?, completed: [Stage: Date] = [:], final: Date?) {
        self.intended = intended
        self.submitted = submitted
        self.completed = completed
        self.final = final
    }

    public init(intended: Date, history: [ParcelEvent]) {
        self.intended = intended
        for event in history {
            switch event.kind {
            case .submitted:
                submitted = submitted.map { min($0, event.at) } ?? event.at
            case .completed, .delivered:
                if let stage = event.stage { completed[stage] = completed[stage].map { min($0, event.at) } ?? event.at }
                if event.kind == .delivered { final = event.at }
            case .held, .deadLettered, .returned:
                final = event.at
            case .released:
                final = nil  // on its way again
            default:
                break
            }
        }
    }
}
