import Foundation
import ParcelCore
import ParcelStoreSQLite
import Testing

/// The status store contract, continued: what a store reports (counts, the snapshot, the audit) and
/// big batches; and group commit (StatusStoreContractTests.swift has submitting and every transition).
extension StatusStoreContractTests {
    @Test("countsByState counts every parcel once, by state", arguments: StoreKind.allCases)
    func counts(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit((1...7).map { parcel("P-\($0)") }, at: moment(0))
            _ = try await store.apply(.queued(.collection), to: ["P-1", "P-2", "P-3", "P-4", "P-5"], worker: nil, at: moment(1))
            try await store.applyAll([.started(.collection, attempt: 1)], to: "P-2", from: 2)
            try await store.applyAll([.started(.collection, attempt: 1), .retrying(.collection, attempt: 1, error: "rain")],
                                     to: "P-3", from: 2)
            try await store.applyAll([.deadLettered(.collection, reason: "no address")], to: "P-4", from: 2)
            try await store.applyAll(Array(wholeJourney.dropFirst()), to: "P-5", from: 2)
            #expect(try await store.countsByState() == [
                .submitted: 2, .queued: 1, .processing: 1, .retrying: 1, .deadLettered: 1, .delivered: 1,
            ])
            // One load test's parcels, by id prefix.
            #expect(try await store.countsByState(idPrefix: "P-5") == [.delivered: 1])
            #expect(try await store.countsByState(idPrefix: "Q-").isEmpty)
        }
    }

    @Test("snapshot: where parcels are, deliveries and latencies in the period, the longest wait, the parcels needing attention",
          arguments: StoreKind.allCases)
    func snapshot(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit((1...5).map { parcel("P-\($0)") }, at: moment(0))
            _ = try await store.apply(.queued(.collection), to: ["P-1", "P-2", "P-3", "P-4"], worker: nil, at: moment(1))
            // P-1: through every stage, one second per step: delivered at 9 s.
            try await store.applyAll(Array(wholeJourney.dropFirst()), to: "P-1", from: 2)
            try await store.applyAll([.started(.collection, attempt: 1), .retrying(.collection, attempt: 1, error: "rain")],
                                     to: "P-2", from: 2)
            try await store.applyAll([.deadLettered(.collection, reason: "no address")], to: "P-4", from: 2)

            let december = DateInterval(start: moment(0), end: moment(31 * 86_400))
            let snapshot = try await store.snapshot(period: december, recentSince: moment(5))
            #expect(Set(snapshot.groups) == [
                StoreSnapshot.Group(stage: nil, state: .submitted, stagesDone: 0, count: 1),
                StoreSnapshot.Group(stage: .collection, state: .queued, stagesDone: 0, count: 1),
                StoreSnapshot.Group(stage: .collection, state: .retrying, stagesDone: 0, count: 1),
                StoreSnapshot.Group(stage: .collection, state: .deadLettered, stagesDone: 0, count: 1),
                StoreSnapshot.Group(stage: .delivery, state: .delivered, stagesDone: 4, count: 1),
            ])
            #expect(snapshot.deliveries == [moment(9)])
            #expect(snapshot.recentDeliveries == [moment(9)])
            #expect(snapshot.endToEnd == [9_000])
            // Queued → done: collection from the submit (not its "queued" line at 1), later stages from the
            // previous completion.
            #expect(snapshot.stageLatencies == [.collection: [3_000], .packaging: [2_000], .inspection: [2_000], .delivery: [2_000]])
            #expect(snapshot.oldestWaiting == [.collection: moment(1)])
            #expect(snapshot.attention == [StoreSnapshot.Attention(parcelID: "P-4", state: .deadLettered, stage: .collection,
                                                                   reason: "no address", at: moment(2))])
            #expect(try await store.deliveredCount(in: december) == 1)

            // A period before: the same parcels, but no deliveries or latencies in it.
            let november = DateInterval(start: moment(-30 * 86_400), end: moment(0))
            let earlier = try await store.snapshot(period: november, recentSince: moment(10))
            #expect(Set(earlier.groups) == Set(snapshot.groups))
            #expect(earlier.deliveries.isEmpty && earlier.recentDeliveries.isEmpty && earlier.endToEnd.isEmpty)
            #expect(earlier.stageLatencies.isEmpty)
            #expect(try await store.deliveredCount(in: november) == 0)
        }
    }

    @Test("snapshot with latestCompletions: the latencies of each stage's latest completions in the period, no more",
          arguments: StoreKind.allCases)
    func latestCompletions(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit((1...3).map { parcel("P-\($0)") }, at: moment(0))
            _ = try await store.apply(.queued(.collection), to: ["P-1", "P-2", "P-3"], worker: nil, at: moment(1))
            // Collection completes at 3, 21 and 41 s (3, 21 and 41 s after the submit); every later stage 2 s after the last.
            for (id, from) in [("P-1", 2), ("P-2", 20), ("P-3", 40)] {
                try await store.applyAll(Array(wholeJourney.dropFirst()), to: id, from: from)
            }
            let december = DateInterval(start: moment(0), end: moment(31 * 86_400))
            func latencies(_ period: DateInterval, _ latest: Int?) async throws -> [Stage: [Double]] {
                try await store.snapshot(period: period, recentSince: moment(0), latestCompletions: latest)
                    .stageLatencies.mapValues { $0.sorted() }
            }
            #expect(try await latencies(december, nil)[.collection] == [3_000, 21_000, 41_000])
            #expect(try await latencies(december, 2) == [.collection: [21_000, 41_000], .packaging: [2_000, 2_000],
                                                         .inspection: [2_000, 2_000], .delivery: [2_000, 2_000]])
            #expect(try await latencies(december, 0).values.allSatisfy(\.isEmpty))
            // The latest in the period: P-3's completions (from 41 s) fall after it.
            #expect(try await latencies(DateInterval(start: moment(0), end: moment(30)), 1)[.collection] == [21_000])
            // The rest of the snapshot does not depend on it.
            let all = try await store.snapshot(period: december, recentSince: moment(0))
            let few = try await store.snapshot(period: december, recentSince: moment(0), latestCompletions: 1)
            #expect(all.deliveries == few.deliveries && all.endToEnd == few.endToEnd && Set(all.groups) == Set(few.groups))
        }
    }

    @Test("audit: tasks started, retries, when the last parcel became final, and no stage applied twice",
          arguments: StoreKind.allCases)
    func audit(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit((1...3).map { parcel("P-\($0)") }, at: moment(0))
            var fresh = StoreAudit()
            fresh.counts = [.submitted: 3]
            #expect(try await store.audit(idPrefix: nil) == fresh)
            try await store.applyAll(wholeJourney, to: "P-1", from: 1)
            try await store.applyAll([.queued(.collection), .started(.collection, attempt: 1),
                                      .retrying(.collection, attempt: 1, error: "rain"), .started(.collection, attempt: 2),
                                      .deadLettered(.collection, reason: "gave up")], to: "P-2", from: 20)
            // Repeats are duplicates: they write nothing, so nothing is applied twice.
            #expect(try await store.apply(.completed(.collection), to: "P-1", at: moment(40)) == .duplicate)
            let audit = try await store.audit(idPrefix: nil)
            #expect(audit.appliedTwice.isEmpty)
            #expect(audit.counts == [.delivered: 1, .deadLettered: 1, .submitted: 1])
            #expect(audit.tasksStarted == 4 + 2)
            #expect(audit.retries == 1)
            #expect(audit.lastFinalAt == moment(24))
            // P-1 passed every stage; P-2 none (dead-lettered at collection).
            #expect(audit.passed == [.collection: 1, .packaging: 1, .inspection: 1, .delivery: 1])
            // One run's parcels only, by their id prefix.
            let one = try await store.audit(idPrefix: "P-2")
            #expect(one.counts == [.deadLettered: 1] && one.tasksStarted == 2 && one.retries == 1)
            #expect(one.lastFinalAt == moment(24) && one.passed.isEmpty)
        }
    }

    @Test("a December batch: 2,000 parcels submitted and 1,000 moved, one call each", arguments: StoreKind.allCases)
    func bigBatches(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let parcels = (0..<2000).map { parcel(String(format: "P-2026-%06d", $0)) }
            let clock = ContinuousClock()
            var submitted = SubmitOutcome()
            let submitTime = try await clock.measure {
                submitted = try await store.submit(parcels, at: moment(0))
            }
            #expect(submitted.created == parcels.map(\.id))

            let ids = parcels.prefix(1000).map(\.id)
            var outcomes: [TransitionOutcome] = []
            let applyTime = try await clock.measure {
                outcomes = try await store.apply(.queued(.collection), to: ids, worker: "bulk", at: moment(1))
            }
            #expect(outcomes == Array(repeating: .applied, count: 1000))
            #expect(try await store.countsByState() == [.submitted: 1000, .queued: 1000])
            #expect(try await store.submit(parcels, at: moment(2)).created.isEmpty)
            // Reported for the README, never asserted: timings depend on the machine.
            print("[\(kind)] submit 2,000 parcels: \(submitTime); apply to 1,000 ids: \(applyTime)")
        }
    }
}


@Suite("Group commit")
struct GroupCommitTests {
    @Test("many concurrent tasks' changes land in few transactions, each caller getting its own outcomes")
    func concurrentChanges() async throws {
        try await withTemporaryFolder { folder in
            let sqlite = try await SQLiteStatusStore.open(path: folder.appendingPathComponent("status.db").path)
            let store = GroupCommitStore(sqlite)
            let parcels = (0..<300).map { parcel("G-\($0)") }
            _ = try await store.submit(parcels, at: Date())
            // 300 tasks at once, each taking its parcel through all four stages, as a worker's tasks do.
            let outcomes = try await withThrowingTaskGroup(of: [TransitionOutcome].self) { group in
                for p in parcels {
                    group.addTask {
                        var seen: [TransitionOutcome] = []
                        for stage in Stage.allCases {
                            seen.append(try await store.apply(.started(stage, attempt: 1), to: p.id))
                            seen.append(try await store.apply(.completed(stage), to: p.id))
                        }
                        seen.append(try await store.apply(.completed(.delivery), to: p.id))  // a redelivery
                        return seen
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for seen in outcomes {
                #expect(seen == Array(repeating: .applied, count: 8) + [.duplicate])
            }
            #expect(try await store.countsByState() == [.delivered: 300])
            let written = store.written
            #expect(written.changes == 300 * 9)
            #expect(written.transactions * 4 < written.changes, "\(written.transactions) transactions for \(written.changes) changes")
            let expected: [ParcelEvent.Kind] = [.submitted, .started, .completed, .started, .completed, .started, .completed,
                                                .started, .delivered]
            #expect(try await store.history("G-7").map(\.kind) == expected)
            await sqlite.close()
        }
    }
}
