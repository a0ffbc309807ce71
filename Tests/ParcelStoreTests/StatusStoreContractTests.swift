import Foundation
import ParcelCore
import ParcelStoreSQLite
import Testing

/// The rules every ``StatusStore`` follows (docs/DESIGN.md §4, §6), run against each store.
@Suite("Status store contract")
struct StatusStoreContractTests {
    @Test("submit records new parcels as submitted, with a submitted event", arguments: StoreKind.allCases)
    func submitCreates(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let outcome = try await store.submit([parcel("P-1"), parcel("P-2", letters: 5)], at: moment(0))
            #expect(outcome == SubmitOutcome(created: ["P-1", "P-2"]))
            let record = try #require(try await store.record("P-2"))
            #expect(record.parcel == parcel("P-2", letters: 5))
            #expect(record.progress == .submitted)
            #expect(record.status == .submitted)
            #expect(record.submittedAt == moment(0))
            #expect(record.updatedAt == moment(0))
            #expect(record.lastError == nil)
            #expect(try await store.history("P-1") == [ParcelEvent(parcelID: "P-1", kind: .submitted, stage: nil, at: moment(0))])
        }
    }

    @Test("a re-submit creates nothing and reports existing and conflicting ids", arguments: StoreKind.allCases)
    func resubmit(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("P-1"), parcel("P-2")], at: moment(0))
            try await store.applyAll([.queued(.collection)], to: "P-1", from: 1)
            let outcome = try await store.submit([parcel("P-1"), parcel("P-2", letters: 9), parcel("P-3")], at: moment(5))
            #expect(outcome.created == ["P-3"])
            #expect(outcome.existing == ["P-1": .queued(.collection), "P-2": .submitted])
            #expect(outcome.conflicting == ["P-2"])
            // The stored details win, and nothing is recorded twice.
            #expect(try await store.record("P-2")?.parcel == parcel("P-2"))
            #expect(try await store.record("P-2")?.submittedAt == moment(0))
            #expect(try await store.history("P-1").map(\.kind) == [.submitted, .queued])
            #expect(try await store.history("P-2").map(\.kind) == [.submitted])
        }
    }

    @Test("check reads where each parcel stands without writing, leaves out unknown ids, and tells a copy that differs from the one submitted",
          arguments: StoreKind.allCases)
    func checkRead(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("P-1"), parcel("P-2")], at: moment(0))
            try await store.applyAll([.queued(.collection), .started(.collection, attempt: 1), .completed(.collection)],
                                     to: "P-1", from: 1)
            let read = try await store.check([parcel("P-1"), parcel("P-2"), parcel("P-nope"), parcel("P-1")])
            #expect(read == ["P-1": ParcelCheck(progress: ParcelProgress(status: .queued(.packaging), stagesDone: 1, attempts: 0),
                                                sameParcel: true),
                             "P-2": ParcelCheck(progress: .submitted, sameParcel: true)])
            #expect(try await store.history("P-2").map(\.kind) == [.submitted])
            #expect(try await store.check([]) == [:])

            var elsewhere = parcel("P-1")
            elsewhere.recipient.facility = "Somewhere else"
            var heavier = parcel("P-2")
            heavier.contents.drawings += 1
            var sender = parcel("P-2")
            sender.sender.name = "Someone Else"
            for forged in [elsewhere, heavier, sender] {
                #expect(try await store.check([forged])[forged.id]?.sameParcel == false, "\(forged)")
            }
            #expect(try await store.record("P-1")?.parcel == parcel("P-1"), "a check changes nothing")
        }
    }

    @Test("queued, started and completed through all four stages ends delivered, history in order",
          arguments: StoreKind.allCases)
    func fullJourney(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("P-1")], at: moment(0))
            var n = try await store.applyAll([.queued(.collection)], to: "P-1", worker: "host-a/42", from: 1)
            for stage in Stage.allCases {
                // The worker says "queued" once it published the stage's task: the completion before did already.
                if stage != .collection {
                    #expect(try await store.apply(.queued(stage), to: "P-1", worker: "host-a/42", at: moment(n)) == .duplicate)
                    n += 1
                }
                n = try await store.applyAll(through(stage), to: "P-1", worker: "host-a/42", from: n)
            }

            let record = try #require(try await store.record("P-1"))
            #expect(record.status == .delivered)
            #expect(record.progress == ParcelProgress(status: .delivered, stagesDone: 4, attempts: 0))
            #expect(record.submittedAt == moment(0))
            #expect(record.updatedAt == moment(n - 1))

            let history = try await store.history("P-1")
            var expected = [ParcelEvent(parcelID: "P-1", kind: .submitted, stage: nil, at: moment(0)),
                            ParcelEvent(parcelID: "P-1", kind: .queued, stage: .collection, worker: "host-a/42", at: moment(1))]
            n = 2
            for stage in Stage.allCases {
                if stage != .collection { n += 1 }
                expected.append(ParcelEvent(parcelID: "P-1", kind: .started, stage: stage, attempt: 1, worker: "host-a/42",
                                            at: moment(n)))
                expected.append(ParcelEvent(parcelID: "P-1", kind: stage == .delivery ? .delivered : .completed, stage: stage,
                                            worker: "host-a/42", at: moment(n + 1)))
                n += 2
            }
            #expect(history == expected)
            #expect(zip(history, history.dropFirst()).allSatisfy { $0.at < $1.at })
        }
    }

    @Test("a repeated transition is a duplicate that adds no event", arguments: StoreKind.allCases)
    func duplicates(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("P-1")], at: moment(0))
            try await store.applyAll([.queued(.collection)] + through(.collection) + [.started(.packaging, attempt: 1)],
                                     to: "P-1", from: 1)
            let before = try #require(try await store.record("P-1"))
            let events = try await store.history("P-1").count

            #expect(try await store.apply(.completed(.collection), to: "P-1", at: moment(20)) == .duplicate)
            #expect(try await store.apply(.queued(.collection), to: "P-1", at: moment(21)) == .duplicate)
            #expect(try await store.apply(.queued(.packaging), to: "P-1", at: moment(22)) == .duplicate)
            #expect(try await store.apply(.started(.packaging, attempt: 1), to: "P-1", at: moment(23)) == .duplicate)

            #expect(try await store.record("P-1") == before)
            #expect(try await store.history("P-1").count == events)
        }
    }

    @Test("a transition for an earlier stage is stale and never moves the parcel back", arguments: StoreKind.allCases)
    func stale(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("P-1")], at: moment(0))
            try await store.applyAll([.queued(.collection)] + through(.collection) + through(.packaging), to: "P-1", from: 1)
            let before = try #require(try await store.record("P-1"))
            #expect(before.status == .queued(.inspection))
            let events = try await store.history("P-1").count

            let old: [Transition] = [
                .started(.collection, attempt: 2), .retrying(.packaging, attempt: 1, error: "late"),
                .deadLettered(.collection, reason: "late"), .started(.packaging, attempt: 1),
                // Nor can a parcel skip ahead of its stage.
                .started(.delivery, attempt: 1), .completed(.delivery),
            ]
            for (offset, transition) in old.enumerated() {
                #expect(try await store.apply(transition, to: "P-1", at: moment(30 + offset)) == .stale, "\(transition)")
            }
            #expect(try await store.record("P-1") == before)
            #expect(try await store.history("P-1").count == events)
        }
    }

    @Test("retrying, held and dead-lettered keep their reasons", arguments: StoreKind.allCases)
    func failures(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("R"), parcel("H"), parcel("D")], at: moment(0))

            try await store.applyAll([.queued(.collection), .started(.collection, attempt: 1),
                                      .retrying(.collection, attempt: 1, error: "van broke down")], to: "R", from: 1)
            var retrying = try #require(try await store.record("R"))
            #expect(retrying.status == .retrying(.collection))
            #expect(retrying.progress.attempts == 1)
            #expect(retrying.lastError == "van broke down")
            #expect(try await store.apply(.retrying(.collection, attempt: 1, error: "again"), to: "R", at: moment(4)) == .duplicate)
            try await store.applyAll([.started(.collection, attempt: 2)], to: "R", from: 5)
            retrying = try #require(try await store.record("R"))
            #expect(retrying.status == .processing(.collection))
            #expect(retrying.progress.attempts == 2)
            #expect(retrying.lastError == "van broke down")
            #expect(try await store.history("R").last == ParcelEvent(parcelID: "R", kind: .started, stage: .collection,
                                                                     attempt: 2, worker: "test-worker", at: moment(5)))
            #expect(try await store.history("R").map(\.detail) == [nil, nil, nil, "van broke down", nil])

            try await store.applyAll([.queued(.collection)] + through(.collection) + through(.packaging)
                                     + [.started(.inspection, attempt: 1), .held(.inspection, reason: "liquid inside")],
                                     to: "H", from: 10)
            let held = try #require(try await store.record("H"))
            #expect(held.status == .held(.inspection, reason: "liquid inside"))
            #expect(held.status.isFinal)
            #expect(held.lastError == "liquid inside")
            #expect(try await store.history("H").last == ParcelEvent(parcelID: "H", kind: .held, stage: .inspection,
                                                                     detail: "liquid inside", worker: "test-worker",
                                                                     at: moment(16)))

            try await store.applyAll([.queued(.collection), .deadLettered(.collection, reason: "address unknown")], to: "D", from: 30)
            let dead = try #require(try await store.record("D"))
            #expect(dead.status == .deadLettered(.collection, reason: "address unknown"))
            #expect(dead.lastError == "address unknown")
            #expect(try await store.history("D").last?.kind == .deadLettered)
            #expect(try await store.history("D").last?.detail == "address unknown")
        }
    }

    @Test("a final state refuses every further move", arguments: StoreKind.allCases)
    func finalStates(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("H"), parcel("V"), parcel("D")], at: moment(0))
            try await store.applyAll([.queued(.collection)] + through(.collection) + through(.packaging) + [.held(.inspection, reason: "liquid inside")],
                                     to: "H", from: 1)
            try await store.applyAll(wholeJourney, to: "V", from: 1)
            try await store.applyAll([.deadLettered(.collection, reason: "address unknown")], to: "D", from: 1)
            let ids = ["H", "V", "D"]
            var before: [ParcelRecord?] = []
            var events: [Int] = []
            for id in ids {
                before.append(try await store.record(id))
                events.append(try await store.history(id).count)
            }

            let moves: [(String, Transition, TransitionOutcome)] = [
                ("H", .held(.inspection, reason: "liquid inside"), .duplicate),
                ("H", .completed(.inspection), .stale),
                ("H", .queued(.delivery), .stale),
                ("H", .retrying(.inspection, attempt: 2, error: "x"), .stale),
                ("V", .completed(.delivery), .duplicate),
                ("V", .started(.delivery, attempt: 2), .stale),
                ("V", .retrying(.delivery, attempt: 2, error: "x"), .stale),
                ("D", .deadLettered(.collection, reason: "again"), .duplicate),
                ("D", .started(.collection, attempt: 2), .stale),
                ("D", .completed(.collection), .stale),
                ("D", .queued(.packaging), .stale),
            ]
            for (offset, (id, transition, expected)) in moves.enumerated() {
                #expect(try await store.apply(transition, to: id, at: moment(40 + offset)) == expected, "\(id) \(transition)")
            }
            for (index, id) in ids.enumerated() {
                #expect(try await store.record(id) == before[index])
                #expect(try await store.history(id).count == events[index])
            }
        }
    }

    @Test("a replay queues a dead-lettered parcel at its stage again, with fresh attempts and a history line",
          arguments: StoreKind.allCases)
    func replayed(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("D"), parcel("P"), parcel("V")], at: moment(0))
            let reason = "gave up after 2 attempts: jammed"
            var n = try await store.applyAll([.queued(.collection)] + through(.collection)
                                             + [.started(.packaging, attempt: 1), .retrying(.packaging, attempt: 1, error: "jammed"),
                                                .started(.packaging, attempt: 2), .deadLettered(.packaging, reason: reason)],
                                             to: "D", from: 1)
            let dead = try #require(try await store.record("D"))
            let events = try await store.history("D").count
            // Only the stage where it died.
            for stage in [Stage.collection, .inspection, .delivery] {
                #expect(try await store.apply(.replayed(stage), to: "D", at: moment(n)) == .stale, "\(stage)")
            }
            #expect(try await store.record("D") == dead)
            #expect(try await store.history("D").count == events)

            #expect(try await store.apply(.replayed(.packaging), to: "D", worker: "parcelctl host/7", at: moment(n)) == .applied)
            let queued = try #require(try await store.record("D"))
            #expect(queued.progress == ParcelProgress(status: .queued(.packaging), stagesDone: 1, attempts: 0))
            #expect(queued.lastError == reason, "the reason it died is kept for `status`")
            #expect(queued.updatedAt == moment(n))
            #expect(try await store.history("D").last == ParcelEvent(
                parcelID: "D", kind: .queued, stage: .packaging, detail: "replayed from the dead-letter queue",
                worker: "parcelctl host/7", at: moment(n)))
            #expect(try await store.countsByState() == [.queued: 1, .submitted: 2])

            // A repeat (the same letter replayed twice) changes nothing.
            #expect(try await store.apply(.replayed(.packaging), to: "D", at: moment(n + 1)) == .duplicate)
            #expect(try await store.history("D").count == events + 1)
            #expect(try await store.record("D") == queued)

            // The replayed task runs from attempt 1; once the stage is done, the old letter is stale.
            n = try await store.applyAll(through(.packaging), to: "D", from: n + 2)
            #expect(try await store.record("D")?.status == .queued(.inspection))
            #expect(try await store.apply(.replayed(.packaging), to: "D", at: moment(n)) == .stale)

            // A parcel that was never dead-lettered is not replayed.
            try await store.applyAll([.queued(.collection), .started(.collection, attempt: 1)], to: "P", from: 1)
            #expect(try await store.apply(.replayed(.collection), to: "P", at: moment(3)) == .stale)
            try await store.applyAll(wholeJourney, to: "V", from: 1)
            #expect(try await store.apply(.replayed(.delivery), to: "V", at: moment(20)) == .stale)
            #expect(try await store.apply(.replayed(.collection), to: "nobody", at: moment(21)) == .unknownParcel)
            #expect(try await store.history("P").count == 3)
        }
    }

    @Test("an unknown parcel is reported, not created", arguments: StoreKind.allCases)
    func unknownParcel(_ kind: StoreKind) async throws {
        try await withStore(kind) { store throws in
            #expect(try await store.apply(.queued(.collection), to: "nobody", at: moment(0)) == .unknownParcel)
            #expect(try await store.record("nobody") == nil)
            #expect(try await store.history("nobody").isEmpty)
            #expect(try await store.countsByState().isEmpty)
        }
    }

    @Test("a batch apply returns one outcome per id, in order", arguments: StoreKind.allCases)
    func batchOutcomes(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("A"), parcel("B"), parcel("C")], at: moment(0))
            try await store.applyAll([.queued(.collection)], to: "B", from: 1)
            let outcomes = try await store.apply(.queued(.collection), to: ["A", "nobody", "B", "A", "C"], worker: "w",
                                                 at: moment(2))
            #expect(outcomes == [.applied, .unknownParcel, .duplicate, .duplicate, .applied])
            #expect(try await store.history("A").map(\.kind) == [.submitted, .queued])
            #expect(try await store.record("C")?.status == .queued(.collection))
        }
    }

    @Test("several changes to one parcel in one call: each seen by the next, the row ends at the last, every step in the history",
          arguments: StoreKind.allCases)
    func severalChangesToOneParcel(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("A"), parcel("B")], at: moment(0))
            try await store.applyAll([.queued(.collection)], to: "A", from: 1)
            try await store.applyAll([.queued(.collection)], to: "B", from: 1)
            // As a worker's batch has them: "started" and the outcome per task, two parcels interleaved.
            let changes = [
                StatusChange("A", .started(.collection, attempt: 1), worker: "w", at: moment(2)),
                StatusChange("B", .started(.collection, attempt: 1), worker: "w", at: moment(2)),
                StatusChange("A", .completed(.collection), worker: "w", at: moment(3)),
                StatusChange("B", .retrying(.collection, attempt: 1, error: "scanner busy"), worker: "w", at: moment(4)),
                StatusChange("A", .started(.collection, attempt: 1), worker: "w", at: moment(5)),
                StatusChange("A", .started(.packaging, attempt: 1), worker: "w", at: moment(6)),
            ]
            #expect(try await store.apply(changes) == [.applied, .applied, .applied, .applied, .stale, .applied])
            let a = try #require(try await store.record("A"))
            #expect(a.progress == ParcelProgress(status: .processing(.packaging), stagesDone: 1, attempts: 1))
            #expect(a.updatedAt == moment(6))
            let b = try #require(try await store.record("B"))
            #expect(b.status == .retrying(.collection) && b.lastError == "scanner busy" && b.updatedAt == moment(4))
            #expect(try await store.history("A").map(\.kind) == [.submitted, .queued, .started, .completed, .started])
            #expect(try await store.history("B").map(\.kind) == [.submitted, .queued, .started, .retrying])
            #expect(try await store.countsByState() == [.processing: 1, .retrying: 1])
        }
    }
}

extension StatusStoreContractTests {
    @Test("reasons and worker names keep every character: quotes, backslashes, line breaks, emoji",
          arguments: StoreKind.allCases)
    func awkwardText(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.submit([parcel("T-1")], at: moment(0))
            let reason = "the \"fragile\" sticker\\label\nfell off 🏷️ \u{1}"
            let worker = "host \"a\"/42"
            #expect(try await store.apply(.queued(.collection), to: "T-1", at: moment(1)) == .applied)
            #expect(try await store.apply(.started(.collection, attempt: 1), to: "T-1", worker: worker, at: moment(2)) == .applied)
            #expect(try await store.apply(.retrying(.collection, attempt: 1, error: reason), to: "T-1", worker: worker,
                                          at: moment(3)) == .applied)
            let last = try #require(try await store.history("T-1").last)
            #expect(last.detail == reason && last.worker == worker && last.attempt == 1 && last.stage == .collection)
            #expect(try await store.record("T-1")?.lastError == reason)
        }
    }
}
