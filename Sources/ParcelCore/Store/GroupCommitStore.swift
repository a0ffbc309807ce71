import Foundation
import Synchronization

/// Gathers the status changes that concurrent tasks make into shared transactions (group commit).
///
/// A worker with many tasks in flight records two changes per task. One transaction each would make
/// the store's commit the bottleneck — SQLite has one writer per file, shared by every worker
/// process. Here the first caller becomes the writer: it applies everything queued so far in one
/// transaction, and whatever arrives meanwhile goes into the next one. Nothing waits on a timer, so
/// a lone change is written at once; under load, transactions grow with the load. Every caller still
/// gets its own outcomes, or the error of the transaction that held its changes.
public final class GroupCommitStore: StatusStore {
    private struct Waiting {
        let changes: [StatusChange]
        let continuation: CheckedContinuation<[TransitionOutcome], any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var writing = false
        var transactions = 0
        var changes = 0
        var writingTime: Duration = .zero
    }

    private let inner: any StatusStore
    private let state = Mutex(State())
    /// The most changes written in one transaction.
    private let maxBatch: Int

    public init(_ inner: any StatusStore, maxBatch: Int = 2_000) {
        self.inner = inner
        self.maxBatch = max(1, maxBatch)
    }

    public func apply(_ changes: [StatusChange]) async throws -> [TransitionOutcome] {
        try await withCheckedThrowingContinuation { continuation in
            let lead = state.withLock { state -> Bool in
                state.queue.append(Waiting(changes: changes, continuation: continuation))
                if state.writing { return false }
                state.writing = true
                return true
            }
            if lead { Task { await self.writeQueued() } }
        }
    }

    /// Writes batches until the queue is empty, then steps down.
    private func writeQueued() async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                guard !state.queue.isEmpty else {
                    state.writing = false
                    return []
                }
                var count = 0
                var taken = 0
                while taken < state.queue.count, taken == 0 || count + state.queue[taken].changes.count <= maxBatch {
                    count += state.queue[taken].changes.count
                    taken += 1
                }
                defer { state.queue.removeFirst(taken) }
                return Array(state.queue.prefix(taken))
            }
            if batch.isEmpty { return }
            let count = batch.reduce(0) { $0 + $1.changes.count }
            state.withLock {
                $0.transactions += 1
                $0.changes += count
            }
            let began = ContinuousClock.now
            defer {
                let took = ContinuousClock.now - began
                state.withLock { $0.writingTime += took }
            }
            do {
                let outcomes = try await inner.apply(batch.flatMap(\.changes))
                var offset = 0
                for waiting in batch {
                    waiting.continuation.resume(returning: Array(outcomes[offset..<offset + waiting.changes.count]))
                    offset += waiting.changes.count
                }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }

    /// How many transactions carried how many changes so far.
    public var written: (transactions: Int, changes: Int) {
        state.withLock { ($0.transactions, $0.changes) }
    }

    /// Time spent in the store's transactions so far (waits for another process's lock included).
    public var writingTime: Duration { state.withLock { $0.writingTime } }

    public func submit(_ parcels: [Parcel], at time: Date) async throws -> SubmitOutcome {
        try await inner.submit(parcels, at: time)
    }

    public func record(_ parcelID: String) async throws -> ParcelRecord? {
        try await inner.record(parcelID)
    }

    public func check(_ parcels: [Parcel]) async throws -> [String: ParcelCheck] {
        try await inner.check(parcels)
    }

    public func history(_ parcelID: String) async throws -> [ParcelEvent] {
        try await inner.history(parcelID)
    }

    public func countsByState(idPrefix: String?) async throws -> [ParcelStatus.State: Int] {
        try await inner.countsByState(idPrefix: idPrefix)
    }

    public func histories(_ parcelIDs: [String]) async throws -> [String: [ParcelEvent]] {
        try await inner.histories(parcelIDs)
    }

    public func finalChange(after cursor: Int64, idPrefix: String?) async throws -> FinalChange {
        try await inner.finalChange(after: cursor, idPrefix: idPrefix)
    }

    public func snapshot(period: DateInterval, recentSince: Date, latestCompletions: Int?) async throws -> StoreSnapshot {
        try await inner.snapshot(period: period, recentSince: recentSince, latestCompletions: latestCompletions)
    }

    public func deliveredCount(in interval: DateInterval) async throws -> Int {
        try await inner.deliveredCount(in: interval)
    }

    public func holds(limit: Int) async throws -> HoldListing {
        try await inner.holds(limit: limit)
    }

    public func returnedCount(in interval: DateInterval) async throws -> Int {
        try await inner.returnedCount(in: interval)
    }

    public func audit(idPrefix: String?) async throws -> StoreAudit {
        try await inner.audit(idPrefix: idPrefix)
    }

    public func erase(_ parcelIDs: [String], at time: Date) async throws -> [String: Erasure] {
        try await inner.erase(parcelIDs, at: time)
    }

    public func prune(finishedBefore date: Date, limit: Int) async throws -> Int {
        try await inner.prune(finishedBefore: date, limit: limit)
    }

    public func close() async {
        await inner.close()
    }
}
