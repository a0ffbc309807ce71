import Foundation
import ParcelCore

extension LoadTestReport {
    /// The `soak` member of the JSON report (null for a run without one).
    var soakJSON: [String: JSONValue] { ["soak": soak?.json ?? .null] }
}

extension SoakReport {
    /// The `soak` member of the JSON report: its names are read by scripts (deploy/local/bench.sh).
    public var json: JSONValue {
        func number(_ value: Double, places: Double = 1000) -> JSONValue { .number((value * places).rounded() / places) }
        let goals = self.goals
        return .object([
            "interval_s": number(intervalSeconds),
            "intervals": .array(intervals.map { interval in
                .object(["end_s": number(interval.endSeconds), "final": .int(interval.final),
                         "parcels_per_s": number(interval.parcelsPerSecond, places: 10),
                         "worker_rss_mb": .array(interval.workerResidentMB.map { number($0, places: 10) }),
                         "parcelctl_rss_mb": number(interval.parcelctlResidentMB, places: 10),
                         "parcelctl_cpu_s": number(interval.parcelctlCPUSeconds),
                         "store_mb": interval.storeMB.map { number($0, places: 10) } ?? .null])
            }),
            "first_interval": compared.map { .int($0.first) } ?? .null,
            "last_interval": compared.map { .int($0.last) } ?? .null,
            "first_parcels_per_s": number(firstParcelsPerSecond, places: 10),
            "last_parcels_per_s": number(lastParcelsPerSecond, places: 10),
            "last_over_first": number(lastOverFirst),
            "worker_rss_mb_max": number(workerResidentMBMax, places: 10),
            "parcelctl_cpu_s": number(parcelctlCPUSeconds),
            "parcelctl_cpu_share": number(parcelctlCPUShare, places: 10_000),
            "store_mb_end": storeMBEnd.map { number($0, places: 10) } ?? .null,
            "goals": .object([
                "met": .bool(goals.allMet),
                "throughput_held": .bool(goals.throughputHeld),
                "worker_rss_under_40mb": .bool(goals.workerRSSUnderLimit),
                "worker_rss_flat": .bool(goals.workerRSSFlat),
                "parcelctl_cpu_under_5pct": .bool(goals.parcelctlCPUUnderShare),
            ]),
        ])
    }

    /// The interval table and the goals, for a person.
    public var lines: [String] {
        func cell(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        var out = ["Soak, every \(NumberText.decimal(intervalSeconds)) s (parcels final; RSS and the store at the interval's end):",
                   "  " + [cell("end s", 7), cell("final", 8), cell("parcels/s", 10), cell("worker RSS MB", 16),
                           cell("ctl RSS MB", 11), cell("ctl CPU s", 10), cell("store MB", 9)].joined(separator: " ")]
        for interval in intervals {
            let rss = interval.workerResidentMB.map(NumberText.decimal).joined(separator: " ")
            out.append("  " + [cell(NumberText.decimal(interval.endSeconds), 7), cell(NumberText.integer(interval.final), 8),
                               cell(NumberText.decimal(interval.parcelsPerSecond), 10), cell(rss.isEmpty ? "—" : rss, 16),
                               cell(NumberText.decimal(interval.parcelctlResidentMB), 11),
                               cell(NumberText.decimal(interval.parcelctlCPUSeconds), 10),
                               cell(interval.storeMB.map(NumberText.decimal) ?? "—", 9)].joined(separator: " "))
        }
        let goals = self.goals
        func met(_ yes: Bool) -> String { yes ? "met" : "MISSED" }
        let pair = compared.map { "intervals \($0.first + 1) and \($0.last + 1)" } ?? "no interval"
        out.append("Goals (\(goals.allMet ? "all met" : "not all met"); they do not change the verdict):")
        out.append("  throughput held: \(met(goals.throughputHeld)), last \(NumberText.decimal(lastParcelsPerSecond)) parcels/s is "
            + "\(NumberText.decimal(lastOverFirst * 100)) % of first \(NumberText.decimal(firstParcelsPerSecond)) (\(pair); goal ≥ 90 %)")
        out.append("  worker RSS under 40 MB: \(met(goals.workerRSSUnderLimit)), at most \(NumberText.decimal(workerResidentMBMax)) MB; "
            + "flat: \(met(goals.workerRSSFlat))")
        out.append("  parcelctl CPU under 5 % of the run: \(met(goals.parcelctlCPUUnderShare)), "
            + "\(NumberText.decimal(parcelctlCPUSeconds)) s of \(NumberText.decimal(runSeconds)) s "
            + "(\(NumberText.decimal(parcelctlCPUShare * 100)) %)")
        return out
    }
}
