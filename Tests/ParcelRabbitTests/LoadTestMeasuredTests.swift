import Foundation
import ParcelCore
@testable import ParcelLoadTest
import Testing

/// The load test's verdict that every parcel is measured: each stage's latencies count the parcels
/// that passed it (issue 17, point 5).
@Suite("Load test: every parcel measured")
struct LoadTestMeasuredTests {
    /// A report of 2,000 delivered parcels whose latencies at each stage number `measured`.
    private func report(measured: [Stage: Int]) -> LoadTestReport {
        var audit = StoreAudit()
        audit.add(2_000, in: .delivered, stagesDone: 4)
        var snapshot = StoreSnapshot()
        for stage in Stage.allCases { snapshot.stageLatencies[stage] = Array(repeating: 5, count: measured[stage] ?? 2_000) }
        return LoadTestReport(
            parcels: 2_000, counts: audit.counts, audit: audit, snapshot: snapshot,
            queues: .init(readable: true, leftInWorkQueues: [:], deadLetters: 0), seconds: 1, workers: 1, kills: 0,
            brokerRestarts: 0, cpu: .init(workers: 0, broker: 0, parcelctl: 0, storeWriting: 0, wall: 1),
            workerPeakResidentBytes: 0, workerExits: [0])
    }

    @Test("a stage whose latencies count fewer (or more) parcels than passed it fails the verdict, naming the stage and both numbers")
    func missingLatenciesFail() {
        let short = report(measured: [.collection: 1_812, .delivery: 2_001])
        #expect(!short.passed)
        #expect(short.violations == ["collection's latency counts 1,812 parcel(s), 2,000 passed it",
                                     "delivery's latency counts 2,001 parcel(s), 2,000 passed it"])
        guard case .object(let json) = short.json else { Issue.record("not an object"); return }
        #expect(json["ok"] == .bool(false))
    }

    @Test("every stage measured once per parcel that passed it: no violation")
    func everyParcelMeasured() {
        let whole = report(measured: [:])
        #expect(whole.passed, "\(whole.violations)")
        #expect(Stage.allCases.allSatisfy { whole.stageLatency[$0]?.count == 2_000 })
    }

    @Test("parcels past a stage: those whose stages done reach beyond it, held and dead-lettered ones included")
    func passedCounts() {
        var audit = StoreAudit()
        audit.add(5, in: .delivered, stagesDone: 4)
        audit.add(2, in: .held, stagesDone: 2)
        audit.add(1, in: .deadLettered, stagesDone: 0)
        audit.add(0, in: .queued, stagesDone: 3)
        #expect(audit.counts == [.delivered: 5, .held: 2, .deadLettered: 1])
        #expect(audit.passed == [.collection: 7, .packaging: 7, .inspection: 5, .delivery: 5])
    }
}
