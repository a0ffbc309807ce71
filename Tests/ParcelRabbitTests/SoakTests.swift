import Foundation
import ParcelCore
@testable import ParcelLoadTest
import ParcelTestSupport
import Testing

@Suite("Soak: the run interval by interval, its goals, the flags")
struct SoakTests {
    @Test("each interval counts the parcels final since the one before, its length from the one before, the CPU used in it")
    func intervalArithmetic() {
        var sampler = SoakSampler(intervalSeconds: 2, cpuSeconds: 10)
        #expect(!sampler.due(at: 1.9) && sampler.due(at: 2))
        sampler.close(at: 2.1, final: 100, workerResidentBytes: [20 << 20, 22 << 20], residentBytes: 30 << 20,
                      cpuSeconds: 10.5, storeBytes: 4 << 20)
        #expect(!sampler.due(at: 4) && sampler.due(at: 4.1))
        sampler.close(at: 4.2, final: 400, workerResidentBytes: [21 << 20], residentBytes: 31 << 20, cpuSeconds: 10.6, storeBytes: nil)
        sampler.close(at: 5.2, final: 450, workerResidentBytes: [], residentBytes: 31 << 20, cpuSeconds: 11, storeBytes: 8 << 20)
        // The run ended just as an interval closed: nothing more.
        sampler.close(at: 5.2, final: 450, workerResidentBytes: [], residentBytes: 0, cpuSeconds: 12, storeBytes: nil)
        let report = sampler.report()
        #expect(report.intervals.map(\.final) == [100, 300, 50])
        #expect(report.intervals.map(\.seconds) == [2.1, 4.2 - 2.1, 5.2 - 4.2])
        #expect(report.intervals.map(\.workerResidentMB) == [[20, 22], [21], []])
        #expect(report.intervals.map(\.storeMB) == [4, nil, 8])
        #expect(report.parcels == 450)
        #expect(abs(report.parcelctlCPUSeconds - 1) < 1e-9)
        #expect(abs(report.parcelctlCPUShare - 1 / 5.2) < 1e-9)
        #expect(report.workerResidentMBMax == 22)
        #expect(report.storeMBEnd == 8)
    }

    @Test("the intervals compared: the last full one against the second (the first holds the fill), the drain left out")
    func comparedIntervals() {
        func report(_ rates: [Int], rss: [Double] = [], cpu: Double = 0.01) -> SoakReport {
            SoakReport(intervalSeconds: 1, intervals: rates.enumerated().map { index, final in
                .init(endSeconds: Double(index + 1), seconds: 1, final: final,
                      workerResidentMB: [index < rss.count ? rss[index] : 20], parcelctlResidentMB: 30,
                      parcelctlCPUSeconds: cpu, storeMB: nil)
            })
        }
        #expect(report([]).compared == nil)
        #expect(report([50]).compared! == (0, 0))
        #expect(report([50, 10]).compared! == (0, 0))
        #expect(report([50, 100, 10]).compared! == (0, 1))
        let long = report([40, 100, 95, 91, 20])
        #expect(long.compared! == (1, 3))
        #expect(long.firstParcelsPerSecond == 100 && long.lastParcelsPerSecond == 91)
        #expect(long.goals.throughputHeld && long.goals.allMet)
        #expect(!report([40, 100, 95, 89, 20]).goals.throughputHeld)
        // Worker memory: under 40 MB, and growing by at most 10 % or 2 MB between the intervals compared.
        #expect(report([40, 100, 100, 100, 20], rss: [10, 30, 31, 32.9, 50]).goals.workerRSSFlat)
        #expect(!report([40, 100, 100, 100, 20], rss: [10, 30, 31, 33.1, 20]).goals.workerRSSFlat)
        #expect(!report([40, 100, 100, 100, 20], rss: [10, 30, 31, 32, 40]).goals.workerRSSUnderLimit)
        // parcelctl's CPU: under 5 % of the run's wall time.
        #expect(report([100, 100, 100], cpu: 0.049).goals.parcelctlCPUUnderShare)
        #expect(!report([100, 100, 100], cpu: 0.05).goals.parcelctlCPUUnderShare)
    }

    @Test("the interval without --interval: about twenty per run, from 1 s to 60 s")
    func defaultInterval() {
        #expect(SoakReport.defaultInterval(parcels: 2_000, duration: nil) == 1)
        #expect(SoakReport.defaultInterval(parcels: 200_000, duration: nil) == (200_000 / KillPlan.roughParcelsPerSecond / 20).rounded())
        #expect(SoakReport.defaultInterval(parcels: 2_000, duration: 600) == 30)
        #expect(SoakReport.defaultInterval(parcels: 2_000, duration: 86_400) == 60)
    }

    @Test("the soak's flags: an interval from 250 ms to 1 h, a duration that is a time, not with --parcels")
    func flagChecks() async throws {
        try await expectLoadtestRefuses([
            (["--interval", "0"], "--interval: '0' is not a time from 250ms to 1h"),
            (["--interval", "0s"], "is not a time from 250ms"),
            (["--interval", "100ms"], "is not a time from 250ms"),
            (["--interval", "2h"], "is not a time from 250ms to 1h"),
            (["--duration", "ten"], "--duration: 'ten' is not a time"),
            (["--duration", "0s"], "--duration: '0s' is not a time"),
            (["--duration", "3s", "--parcels", "10"], "give --duration or --parcels, not both"),
            (["--duration", "3s", "--kills", "2"], "--kills alone spreads kills over the parcels given"),
        ])
    }
}

@Suite("Soak, run as ops run it", .serialized)
struct SoakProcessTests {
    /// The `soak` member of a report, checked for what every run's must hold: the intervals add up to
    /// the parcels, each has every worker's memory and the store's size, the goals are there.
    static func checkedSoak(_ report: [String: Any], workers: Int) throws -> [[String: Any]] {
        let soak = try #require(report["soak"] as? [String: Any], "no soak section: \(report.keys.sorted())")
        let intervals = try #require(soak["intervals"] as? [[String: Any]])
        #expect(intervals.compactMap { $0["final"] as? Int }.reduce(0, +) == report["parcels"] as? Int)
        for interval in intervals {
            #expect((interval["worker_rss_mb"] as? [Double])?.count == workers, "\(interval)")
            #expect((interval["worker_rss_mb"] as? [Double] ?? []).allSatisfy { $0 > 1 }, "\(interval)")
            #expect((interval["parcelctl_rss_mb"] as? Double ?? 0) > 1)
            #expect(interval["parcelctl_cpu_s"] is Double && interval["parcels_per_s"] is Double)
        }
        let ends = intervals.compactMap { $0["end_s"] as? Double }
        #expect(ends == ends.sorted() && ends.count == intervals.count)
        let stores = intervals.compactMap { $0["store_mb"] as? Double }
        #expect(stores.count == intervals.count && stores.last! > stores.first!, "the store grows: \(stores)")
        #expect(soak["store_mb_end"] as? Double == stores.last)
        for key in ["first_parcels_per_s", "last_parcels_per_s", "last_over_first", "worker_rss_mb_max", "parcelctl_cpu_share"] {
            #expect(soak[key] is Double, "\(key): \(soak[key] ?? "missing")")
        }
        let goals = try #require(soak["goals"] as? [String: Any])
        #expect(Set(goals.keys) == ["met", "throughput_held", "worker_rss_under_40mb", "worker_rss_flat", "parcelctl_cpu_under_5pct"])
        return intervals
    }

    @Test("--parcels 3000 --interval 0.5s: intervals that add up to the parcels, each worker's memory in each, the store growing, the goals",
          .timeLimit(.minutes(3)))
    func shortSoak() async throws {
        let (status, report) = try await loadtest(["--parcels", "3000", "--interval", "0.5s", "--workers", "2", "--concurrency", "50", "--keep"])
        #expect(status == 0, "violations: \(report["violations"] ?? "")")
        let intervals = try Self.checkedSoak(report, workers: 2)
        #expect(intervals.count >= 3, "\(intervals.count) intervals")
        #expect((report["soak"] as? [String: Any])?["interval_s"] as? Double == 0.5)
        // --keep says what it kept, for `parcelctl report --store …`.
        let kept = try #require(report["kept"] as? [String: Any])
        let store = try #require(kept["store"] as? String)
        #expect(store.hasPrefix("sqlite:") && (kept["namespace"] as? String ?? "").hasPrefix("loadtest."))
        let path = String(store.dropFirst("sqlite:".count))
        let shown = try await Parcelctl(environment: ["PARCELFLOW_AMQP_URL": Broker.url]).run(["report", "--store", store, "--json"])
        #expect(shown.status == 0, "\(shown.stderr)")
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: path).deletingLastPathComponent())
    }

    @Test("--duration 3s without --rate: closed loop for that long, then drained; every parcel submitted is final",
          .timeLimit(.minutes(3)))
    func soakForATime() async throws {
        let (status, report) = try await loadtest(["--duration", "3s", "--interval", "1s", "--workers", "2", "--concurrency", "50"])
        #expect(status == 0, "violations: \(report["violations"] ?? "")")
        let parcels = try #require(report["parcels"] as? Int)
        #expect(parcels >= 500 && parcels % 500 == 0, "whole batches: \(parcels)")
        #expect(report["lost"] as? Int == 0 && report["duplicated"] as? Int == 0)
        let intervals = try Self.checkedSoak(report, workers: 2)
        #expect(intervals.count >= 3, "\(intervals.count) intervals over a 3 s run")
    }

    /// The poll's tally of final parcels follows ``StatusStore/finalChange(after:idPrefix:)``; where that
    /// misses lines (PostgreSQL numbers a line before its transaction commits), the tally checks itself
    /// with one full count once it stalls, and not again until it moves.
    @Test("the final tally: exact from what changed; with lines missed, corrected by one full count once it stalls")
    func finalTallyChecksItself() async throws {
        let store = InMemoryStatusStore()
        let parcels = SubmitFixture.parcels(3, prefix: "S")
        let ids = parcels.map(\.id)
        _ = try await store.submit(parcels, at: Date())
        _ = try await store.apply(.queued(.collection), to: ids, worker: nil, at: Date())
        _ = try await store.apply(.deadLettered(.collection, reason: "test"), to: ids, worker: nil, at: Date())

        let exact = StoreFaults()
        var tally = FinalTally(idPrefix: "S-")
        #expect(try await tally.poll(FaultyStore(store, faults: exact), total: nil) == 3)

        let missing = StoreFaults(missesFinalLines: true)
        let lossy = FaultyStore(store, faults: missing)
        var corrected = FinalTally(idPrefix: "S-")
        #expect(try await corrected.poll(lossy, total: 3) == 0)
        #expect(missing.fullCounts == 0, "no full count while it has not stalled")
        try await Task.sleep(for: corrected.settle + .milliseconds(100))
        #expect(try await corrected.poll(lossy, total: 3) == 3)
        #expect(try await corrected.poll(lossy, total: 3) == 3)
        #expect(missing.fullCounts == 1, "one full count per stall, not one per poll")
    }
}
