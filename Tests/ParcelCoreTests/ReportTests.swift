import Foundation
import ParcelCore
import Testing

private func at(_ text: String) -> Date { Timestamp.parse(text)! }

@Suite("Report: period, forecast, percentiles, figures")
struct ReportTests {
    @Test("a period is a UTC month given as YYYY-MM; anything else is refused")
    func periods() throws {
        let december = try #require(ReportPeriod("2026-12"))
        #expect(december.start == at("2026-12-01T00:00:00Z"))
        #expect(december.end == at("2027-01-01T00:00:00Z"))
        #expect(ReportPeriod("2027-02")?.end == at("2027-03-01T00:00:00Z"))
        for bad in ["2026-13", "2026-00", "2026-1", "26-12", "2026/12", "december", "", "2026-12-01"] {
            #expect(ReportPeriod(bad) == nil, "\(bad)")
        }
        #expect(ReportPeriod.month(containing: at("2026-11-27T13:00:00Z")).name == "2026-11")
        #expect(december.elapsedDays(at: at("2026-12-11T00:00:00Z")) == 10)
        #expect(december.remainingDays(at: at("2026-12-11T00:00:00Z")) == 21)
        #expect(december.remainingDays(at: at("2026-11-27T00:00:00Z")) == 31)
        #expect(december.elapsedDays(at: at("2027-02-01T00:00:00Z")) == 31)
    }

    @Test("forecast: on track, behind (by parcels and days), met, missed, not started")
    func forecasts() throws {
        let december = try #require(ReportPeriod("2026-12"))
        let tenDaysIn = at("2026-12-11T00:00:00Z")

        let onTrack = TargetForecast(target: 2000, delivered: 700, period: december, now: tenDaysIn)
        #expect(onTrack.verdict == .onTrack)
        #expect(abs(onTrack.ratePerDay! - 70) < 1e-9)
        #expect(abs(onTrack.projected! - (700 + 70 * 21)) < 1e-6)
        #expect(abs(onTrack.neededPerDay! - 1300.0 / 21) < 1e-9)
        #expect(onTrack.behindParcels == 0 && onTrack.behindDays == nil)
        #expect(onTrack.remaining == 1300 && onTrack.progress == 0.35)

        let behind = TargetForecast(target: 2000, delivered: 500, period: december, now: tenDaysIn)
        #expect(behind.verdict == .behind)
        #expect(abs(behind.projected! - 1550) < 1e-6)
        #expect(behind.behindParcels == 450)
        #expect(abs(behind.behindDays! - 9) < 1e-6)
        #expect(behind.summary == "Behind: 450 parcels short at 50.0 a day; needs 71.4 a day from now.")

        #expect(TargetForecast(target: 2000, delivered: 2000, period: december, now: tenDaysIn).verdict == .met)
        let missed = TargetForecast(target: 2000, delivered: 1900, period: december, now: at("2027-01-02T00:00:00Z"))
        #expect(missed.verdict == .missed && missed.behindParcels == 100 && missed.neededPerDay == nil)
        let early = TargetForecast(target: 2000, delivered: 0, period: december, now: at("2026-11-27T00:00:00Z"))
        #expect(early.verdict == .notStarted && early.ratePerDay == nil && early.projected == nil)
        #expect(abs(early.neededPerDay! - 2000.0 / 31) < 1e-9)
    }

    @Test("percentiles are nearest-rank; none without values")
    func percentiles() {
        let p = DeliveryReport.Percentiles((1...100).map(Double.init).shuffled())
        #expect(p.count == 100 && p.p50 == 50 && p.p95 == 95 && p.p99 == 99)
        let one = DeliveryReport.Percentiles([7])
        #expect(one.p50 == 7 && one.p99 == 7)
        let none = DeliveryReport.Percentiles([])
        #expect(none.count == 0 && none.p50 == nil && none.p95 == nil && none.p99 == nil)
    }

    @Test("the report's figures: states, the stage funnel, queues, buckets, and the JSON the dashboard reads")
    func figures() throws {
        let december = try #require(ReportPeriod("2026-12"))
        let now = at("2026-12-11T00:00:30Z")
        var snapshot = StoreSnapshot()
        snapshot.groups = [
            .init(stage: nil, state: .submitted, stagesDone: 0, count: 1),
            .init(stage: .collection, state: .queued, stagesDone: 0, count: 2),
            .init(stage: .packaging, state: .processing, stagesDone: 1, count: 3),
            .init(stage: .inspection, state: .held, stagesDone: 2, count: 4),
            .init(stage: .delivery, state: .deadLettered, stagesDone: 3, count: 5),
            .init(stage: .delivery, state: .delivered, stagesDone: 4, count: 6),
        ]
        snapshot.deliveries = [at("2026-12-01T10:00:00Z"), at("2026-12-10T23:59:59Z")] + Array(repeating: at("2026-12-10T23:59:40Z"), count: 4)
        // The last hour, by minute, up to the current one: 23:00:10 is too old.
        snapshot.recentDeliveries = [at("2026-12-10T23:59:40Z"), at("2026-12-10T23:30:10Z"), at("2026-12-11T00:00:10Z"),
                                     at("2026-12-10T23:00:10Z")]
        snapshot.endToEnd = [100, 200, 300]
        snapshot.oldestWaiting = [.collection: at("2026-12-11T00:00:00Z")]
        let report = DeliveryReport(
            snapshot: snapshot,
            broker: .queues(stages: [.collection: .init(messages: 2, consumers: 1), .packaging: .init(messages: 0, consumers: 0),
                                     .inspection: .init(messages: 0, consumers: 1), .delivery: .init(messages: 0, consumers: 1)],
                            dead: .init(messages: 5, consumers: 0)),
            period: december, target: 2000, now: now)

        #expect(report.parcels == 21)
        #expect(report.stages.map(\.entered) == [20, 18, 15, 11])
        #expect(report.stages.map(\.completed) == [18, 15, 11, 6])
        #expect(report.stages[1].states == [.processing: 3])
        #expect(report.stages[3].states == [.deadLettered: 5])
        #expect(report.stages[0].oldestWaiting == 30)
        #expect(report.daily.count == 31 && report.daily[0].delivered == 1 && report.daily[9].delivered == 5)
        #expect(report.deliveredInPeriod == 6 && report.forecast?.delivered == 6)
        #expect(report.recent.count == 60 && report.recent.reduce(0) { $0 + $1.delivered } == 3)
        #expect(report.recent.last?.start == at("2026-12-11T00:00:00Z") && report.recent.last?.delivered == 1)
        #expect(report.recent[58].delivered == 1)

        let json = report.json
        guard case .object(let object) = json, case .object(let target)? = object["target"],
              case .array(let stages)? = object["stages"], case .object(let packaging) = stages[1]
        else { Issue.record("not the expected shape: \(json.serialized())"); return }
        #expect(object["parcels"] == .integer(21) && object["held"] == .integer(4) && object["in_flight"] == .integer(3))
        #expect(target["delivered"] == .integer(6) && target["parcels"] == .integer(2000) && target["forecast"] == .string("behind"))
        #expect(packaging["queue_consumers"] == .integer(0) && packaging["entered"] == .integer(18))
        #expect(object["broker"] == .object(["reachable": .bool(true), "error": .null]))

        let unreachable = DeliveryReport(snapshot: snapshot, broker: .unreachable("connection refused"), period: december,
                                         target: nil, now: now)
        guard case .object(let other) = unreachable.json, case .array(let otherStages)? = other["stages"],
              case .object(let first) = otherStages[0] else { Issue.record("not an object"); return }
        #expect(other["target"] == .null && other["dead_letter_queue"] == .null)
        #expect(first["queue_messages"] == .null)
        #expect(other["broker"] == .object(["reachable": .bool(false), "error": .string("connection refused")]))
    }

    @Test("JSON text: keys sorted, strings escaped, pretty when asked")
    func serialization() {
        let value = JSONValue.object(["b": .array([.integer(1), .number(2.5), .null]), "a": .string("say \"hi\"\n"), "c": .object([:])])
        #expect(value.serialized() == #"{"a":"say \"hi\"\n","b":[1,2.5,null],"c":{}}"#)
        #expect(value.serialized(pretty: true) == """
            {
              "a": "say \\"hi\\"\\n",
              "b": [
                1,
                2.5,
                null
              ],
              "c": {}
            }
            """)
        #expect(JSONValue.parse(Data(value.serialized(pretty: true).utf8)) == value)
    }
}
