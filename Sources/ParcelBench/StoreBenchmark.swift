import Foundation
import ParcelCore

/// `parcelctl bench store`: how fast a status store takes a worker's writes, with no broker.
///
/// Each round submits `parcels` generated parcels in batches of `submitBatch` (as `parcelctl submit`
/// does), then takes them through the four stages the way workers settle tasks: for each batch of
/// `batch` tasks one ``StatusStore/check(_:)`` and one ``StatusStore/apply(_:)`` holding each task's
/// "started" and "completed". The report gives each phase's time per parcel and per transaction (the
/// store's round trip plus its commit), the median of the rounds.
///
/// The parcels' ids start with ``idPrefix``; the store must hold no other parcels (the benchmark
/// removes its own at the end, and refuses a store with anything else in it).
public struct StoreBenchmark: Sendable {
    public struct Options: Sendable {
        public var parcels = 2_000
        public var batch = 64
        public var submitBatch = 500
        public var rounds = 5

        public init() {}
    }

    public struct Round: Sendable, Encodable {
        public let submitMicroseconds: Double
        public let checkMicroseconds: Double
        public let applyMicroseconds: Double
        public let applyTransactionMilliseconds: Double
        public let totalSeconds: Double

        enum CodingKeys: String, CodingKey {
            case submitMicroseconds = "submit_us_per_parcel"
            case checkMicroseconds = "check_us_per_task"
            case applyMicroseconds = "apply_us_per_task"
            case applyTransactionMilliseconds = "apply_ms_per_transaction"
            case totalSeconds = "seconds"
        }
    }

    public struct Report: Sendable, Encodable {
        public let store: String
        public let parcels: Int
        public let batch: Int
        public let rounds: [Round]
        public let submitMicroseconds: Double
        public let checkMicroseconds: Double
        public let applyMicroseconds: Double
        public let applyTransactionMilliseconds: Double
        public let totalSeconds: Double

        enum CodingKeys: String, CodingKey {
            case store, parcels, batch, rounds
            case submitMicroseconds = "submit_us_per_parcel"
            case checkMicroseconds = "check_us_per_task"
            case applyMicroseconds = "apply_us_per_task"
            case applyTransactionMilliseconds = "apply_ms_per_transaction"
            case totalSeconds = "seconds"
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The first characters of every parcel id the benchmark writes.
    public static let idPrefix = "BENCH-"

    public let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// Runs the rounds against `store`, described as `storeName` in the report; `progress` receives one
    /// line per round.
    public func run(store: any StatusStore, storeName: String,
                    progress: (String) -> Void = { _ in }) async throws -> Report {
        guard options.parcels > 0, options.batch > 0, options.submitBatch > 0, options.rounds > 0 else {
            throw Failure(description: "parcels, batch, submit batch and rounds must be positive")
        }
        let all = try await store.countsByState(idPrefix: nil).values.reduce(0, +)
        let own = try await store.countsByState(idPrefix: Self.idPrefix).values.reduce(0, +)
        guard all == own else {
            throw Failure(description: "the store holds \(all - own) parcel(s) that are not the benchmark's: give it a store of its own")
        }
        try await removeAll(from: store)
        var rounds: [Round] = []
        // Each round's parcels have ids of their own; all are removed at the end, not between rounds
        // (a table emptied again and again measures its vacuuming, not the store).
        for number in 1...options.rounds {
            let round = try await runRound(number, store: store)
            rounds.append(round)
            progress(String(format: "round %d: submit %.1f µs/parcel, check %.1f µs/task, apply %.1f µs/task (%.2f ms per transaction), %.2f s",
                            number, round.submitMicroseconds, round.checkMicroseconds, round.applyMicroseconds,
                            round.applyTransactionMilliseconds, round.totalSeconds))
        }
        try await removeAll(from: store)
        return Report(store: storeName, parcels: options.parcels, batch: options.batch, rounds: rounds,
                      submitMicroseconds: median(rounds.map(\.submitMicroseconds)),
                      checkMicroseconds: median(rounds.map(\.checkMicroseconds)),
                      applyMicroseconds: median(rounds.map(\.applyMicroseconds)),
                      applyTransactionMilliseconds: median(rounds.map(\.applyTransactionMilliseconds)),
                      totalSeconds: median(rounds.map(\.totalSeconds)))
    }

    private func runRound(_ number: Int, store: any StatusStore) async throws -> Round {
        let parcels = ParcelGenerator(seed: UInt64(number), idPrefix: "\(Self.idPrefix)\(number)").parcels(options.parcels)
        let clock = ContinuousClock()
        let started = clock.now
        for chunk in parcels.chunks(of: options.submitBatch) {
            let outcome = try await store.submit(Array(chunk), at: Date())
            guard outcome.created.count == chunk.count else { throw Failure(description: "round \(number): a submit created too few parcels") }
            _ = try await store.apply(chunk.map { StatusChange($0.id, .queued(.collection)) })
        }
        let submitted = clock.now
        var checking = Duration.zero
        var applying = Duration.zero
        var transactions = 0
        for stage in Stage.allCases {
            for chunk in parcels.chunks(of: options.batch) {
                let checkStart = clock.now
                let checks = try await store.check(Array(chunk))
                let applyStart = clock.now
                guard checks.count == chunk.count, checks.values.allSatisfy(\.sameParcel) else {
                    throw Failure(description: "round \(number): a check did not find every parcel as submitted")
                }
                let now = Date()
                var changes: [StatusChange] = []
                changes.reserveCapacity(2 * chunk.count)
                for parcel in chunk {
                    changes.append(StatusChange(parcel.id, .started(stage, attempt: 1), worker: "bench", at: now))
                    changes.append(StatusChange(parcel.id, .completed(stage), worker: "bench", at: now))
                }
                let outcomes = try await store.apply(changes)
                let end = clock.now
                guard outcomes.allSatisfy({ $0 == .applied }) else {
                    throw Failure(description: "round \(number): \(stage) was not applied to every parcel")
                }
                checking += applyStart - checkStart
                applying += end - applyStart
                transactions += 1
            }
        }
        let finished = clock.now
        let delivered = try await store.countsByState(idPrefix: "\(Self.idPrefix)\(number)-")[.delivered] ?? 0
        guard delivered == parcels.count else {
            throw Failure(description: "round \(number): \(delivered) of \(parcels.count) parcels delivered")
        }
        let tasks = Double(parcels.count * Stage.allCases.count)
        return Round(submitMicroseconds: (submitted - started) / .microseconds(1) / Double(parcels.count),
                     checkMicroseconds: checking / .microseconds(1) / tasks,
                     applyMicroseconds: applying / .microseconds(1) / tasks,
                     applyTransactionMilliseconds: applying / .milliseconds(1) / Double(transactions),
                     totalSeconds: (finished - started) / .seconds(1))
    }

    /// Removes the benchmark's parcels (all delivered, and the only ones in the store).
    private func removeAll(from store: any StatusStore) async throws {
        let future = Date().addingTimeInterval(86_400)
        while try await store.prune(finishedBefore: future, limit: 10_000) > 0 {}
        let left = try await store.countsByState(idPrefix: nil).values.reduce(0, +)
        guard left == 0 else { throw Failure(description: "\(left) parcel(s) of an earlier run are not final and were left in the store") }
    }
}

extension Array {
    fileprivate func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
