import Foundation
import ParcelCore

/// What an open-loop run measured, every latency from the time each parcel was due (no coordinated
/// omission): a submitter that fell behind, a slow confirm, a queue that built up all count.
///
/// - End to end: final (the store's time of its delivered, held, dead-lettered or returned line) − due.
/// - Collection: collection completed − due, so it holds the submitter's own delay and the wait for the
///   broker's confirm as well as the queue and the work.
/// - Packaging, inspection, delivery: completed − the previous stage completed (the worker that
///   completes a stage queues the next in the same write), so the four stages add up to end to end.
/// - Send lag: the store's submission time − due: how far behind the submitter itself was.
public struct OpenLoopReport: Sendable {
    /// Parcels per second asked for (a ramp: its steps in ``steps``).
    public let rate: Double
    public let parcels: Int
    /// From the first parcel due to the last one due.
    public let sendingSeconds: Double
    /// Submitted per second: the parcels after the first over the span from the first submission to
    /// the last (the asked rate when on time); nil with fewer than 2 parcels.
    public let submittedPerSecond: Double?
    public let submitSpan: Double
    /// Final per second: final parcels over the span from the start to the last final.
    public let finalPerSecond: Double?
    public let runSpan: Double
    /// Parcels not final when the last parcel was due (the end of the sending period).
    public let backlogAtEnd: Int
    /// Of those, parcels the submitter had not yet recorded by then.
    public let unsentAtEnd: Int
    public let sendLag: LoadTestReport.Latency
    public let endToEnd: LoadTestReport.Latency
    public let stageLatency: [Stage: LoadTestReport.Latency]
    /// The chunks the submitter sent the parcels in (each: one store transaction to record them, one
    /// publish, one to mark them queued).
    public var submitChunks = 0

    public init(schedule: SendSchedule, start: Date, parcels: [ParcelTimes]) {
        rate = schedule.steps.first?.rate ?? 0
        self.parcels = parcels.count
        let sending = schedule.length
        sendingSeconds = Double(sending.components.seconds) + Double(sending.components.attoseconds) / 1e18
        let endOfSending = start.addingTimeInterval(sendingSeconds)

        let submitted = parcels.compactMap(\.submitted)
        if let first = submitted.min(), let last = submitted.max() {
            submitSpan = last.timeIntervalSince(first)
            submittedPerSecond = submitted.count > 1 && submitSpan > 0 ? Double(submitted.count - 1) / submitSpan : nil
        } else {
            submitSpan = 0
            submittedPerSecond = nil
        }
        let finals = parcels.compactMap(\.final)
        runSpan = finals.max().map { $0.timeIntervalSince(start) } ?? 0
        finalPerSecond = runSpan > 0 ? Double(finals.count) / runSpan : nil
        backlogAtEnd = parcels.count { $0.final.map { $0 > endOfSending } ?? true }
        unsentAtEnd = parcels.count { $0.submitted.map { $0 > endOfSending } ?? true }

        sendLag = .init(milliseconds: parcels.compactMap { parcel in parcel.submitted.map { Self.ms($0, since: parcel.intended) } })
        endToEnd = .init(milliseconds: Self.endToEndMilliseconds(parcels))
        stageLatency = Dictionary(uniqueKeysWithValues: Stage.allCases.map { ($0, .init(milliseconds: Self.stageMilliseconds($0, parcels))) })
    }

    /// Final − due, for each parcel that became final.
    public static func endToEndMilliseconds(_ parcels: [ParcelTimes]) -> [Double] {
        parcels.compactMap { parcel in parcel.final.map { ms($0, since: parcel.intended) } }
    }

    /// A stage's latency for each parcel that completed it: collection from the due time, the others
    /// from the previous stage's completion.
    public static func stageMilliseconds(_ stage: Stage, _ parcels: [ParcelTimes]) -> [Double] {
        let previous = Stage.allCases.firstIndex(of: stage).flatMap { $0 > 0 ? Stage.allCases[$0 - 1] : nil }
        return parcels.compactMap { parcel in
            guard let done = parcel.completed[stage] else { return nil }
            guard let previous else { return ms(done, since: parcel.intended) }
            return parcel.completed[previous].map { ms(done, since: $0) }
        }
    }

    static func ms(_ date: Date, since start: Date) -> Double { date.timeIntervalSince(start) * 1000 }
}

extension LoadTestReport {
    /// `open_loop` for an open-loop run, null otherwise.
    var openLoopJSON: [String: JSONValue] { ["open_loop": openLoop?.json ?? .null] }
}

extension OpenLoopReport {
    /// The `open_loop` member of the JSON report.
    public var json: JSONValue {
        func number(_ value: Double, places: Double = 1000) -> JSONValue { .number((value * places).rounded() / places) }
        func latency(_ l: LoadTestReport.Latency) -> JSONValue {
            .object(["count": .int(l.count), "p50": number(l.p50), "p90": number(l.p90), "p99": number(l.p99),
                     "p99_9": number(l.p999), "max": number(l.max)])
        }
        return .object([
            "measured_from": .string("intended send time"),
            "rate_per_s": number(rate), "parcels": .int(parcels), "sending_seconds": number(sendingSeconds),
            "submitted_per_s": submittedPerSecond.map { number($0, places: 10) } ?? .null,
            "submit_span_seconds": number(submitSpan),
            "final_per_s": finalPerSecond.map { number($0, places: 10) } ?? .null,
            "run_span_seconds": number(runSpan),
            "backlog_at_end": .int(backlogAtEnd), "unsent_at_end": .int(unsentAtEnd), "submit_chunks": .int(submitChunks),
            "send_lag_ms": latency(sendLag),
            "end_to_end_ms": latency(endToEnd),
            "latency_ms": .object(Dictionary(uniqueKeysWithValues: Stage.allCases.map { ($0.rawValue, latency(stageLatency[$0]!)) })),
        ])
    }

    /// The open-loop lines of the text report.
    public var lines: [String] {
        func ms(_ value: Double) -> String { value < 1000 ? "\(NumberText.decimal(value)) ms" : "\(NumberText.decimal(value / 1000)) s" }
        func row(_ name: String, _ l: LoadTestReport.Latency) -> String {
            "  \(name.padding(toLength: 12, withPad: " ", startingAt: 0)) p50 \(ms(l.p50))  p90 \(ms(l.p90))  p99 \(ms(l.p99))  "
                + "p99.9 \(ms(l.p999))  max \(ms(l.max))"
        }
        func perSecond(_ value: Double?) -> String { value.map { "\(NumberText.decimal($0))/s" } ?? "–" }
        var out = ["Open loop: \(NumberText.integer(parcels)) parcels at \(NumberText.decimal(rate))/s over "
            + "\(NumberText.decimal(sendingSeconds)) s; submitted at \(perSecond(submittedPerSecond)), final at \(perSecond(finalPerSecond)) "
            + "over \(NumberText.decimal(runSpan)) s"]
        out.append("  backlog when the last parcel was due: \(NumberText.integer(backlogAtEnd)) not final"
            + (unsentAtEnd > 0 ? ", \(NumberText.integer(unsentAtEnd)) not yet submitted" : ""))
        out.append("Latency from the intended send time (HdrHistogram): collection from due, later stages from the one before:")
        for stage in Stage.allCases { out.append(row(stage.rawValue, stageLatency[stage]!)) }
        out.append(row("end to end", endToEnd))
        out.append(row("send lag", sendLag))
        return out
    }
}
