import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore
import ParcelRabbit

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Will the month's target be met? Deliveries so far, the forecast, and where parcels are.",
        discussion: """
            Delivered in the period against the target, the rate so far against the rate still needed, \
            and a forecast (on track, or behind by how many parcels and days, at the rate so far). Then \
            parcels per stage and state, queue depths and consumers, how long the oldest parcel has \
            waited at each stage, and p50/p95/p99 latency per stage (queued to done, over the latest \
            10,000 completions of each stage) and end to end (submitted to delivered) for the period. The period and target come from --period and \
            --target, else PARCELFLOW_PERIOD and PARCELFLOW_TARGET. Months are UTC. If the broker cannot \
            be reached, the report says so and gives the store's figures.
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var topologyOptions: TopologyOptions
    @OptionGroup var targetOptions: TargetOptions

    @Flag(help: "Print the whole report as one JSON object (the dashboard shows the same).")
    var json = false

    func run() async throws {
        let source = ReportSource(store: try await store.open(), amqp: try broker.configuration(name: "parcelctl report"),
                                  topology: try topologyOptions.topology(), target: try targetOptions.setting())
        let report = try await source.report()
        await source.close()
        if json {
            Terminal.print(report.json, pretty: true)
        } else {
            Terminal.print(ReportText(report).lines.joined(separator: "\n"))
        }
    }
}

/// The report for a person at a terminal.
struct ReportText {
    let report: DeliveryReport

    init(_ report: DeliveryReport) { self.report = report }

    var lines: [String] {
        var out: [String] = []
        let period = report.period
        let now = report.generatedAt
        out.append("ParcelFlow — \(period.name) (UTC), \(NumberText.decimal(period.remainingDays(at: now))) days left")
        if let f = report.forecast {
            out.append("")
            out.append("  \(f.summary)")
            out.append("  Delivered \(Terminal.count(f.delivered)) of \(Terminal.count(f.target)) "
                + "(\(NumberText.decimal(f.progress * 100)) %)  \(Self.bar(f.progress))")
            out.append("  Rate so far \(f.ratePerDay.map { NumberText.decimal($0) } ?? "—") a day; "
                + "needed \(f.neededPerDay.map { NumberText.decimal($0) } ?? "—") a day; "
                + "projected \(f.projected.map { Terminal.count(Int($0.rounded(.down))) } ?? "—") by the period's end"
                + (f.behindDays.map { "; \(NumberText.decimal($0)) days behind" } ?? ""))
        } else {
            out.append("  No target set: pass --target N or set PARCELFLOW_TARGET. "
                + "Delivered in the period: \(Terminal.count(report.deliveredInPeriod)).")
        }
        out.append("")
        let states = ParcelStatus.State.allCases.map { "\(Terminal.count(report.states[$0] ?? 0)) \(Terminal.name($0))" }
        out.append("  \(Terminal.plural(report.parcels, "parcel")): " + states.joined(separator: ", "))
        if let error = report.brokerError { out.append("  Broker not reachable (queue figures missing): \(Terminal.value(error))") }
        out.append("")
        out.append("  stage        entered  done  queued  in flight  retrying  held  dead  returned  ready  consumers  oldest wait  p50 / p95 / p99")
        for row in report.stages {
            let columns: [String] = [
                Self.pad(row.stage.rawValue, 10, left: true), Self.pad(Terminal.count(row.entered), 9), Self.pad(Terminal.count(row.completed), 6),
                Self.pad(Terminal.count(row.states[.queued] ?? 0), 8), Self.pad(Terminal.count(row.states[.processing] ?? 0), 11),
                Self.pad(Terminal.count(row.states[.retrying] ?? 0), 10), Self.pad(Terminal.count(row.states[.held] ?? 0), 6),
                Self.pad(Terminal.count(row.states[.deadLettered] ?? 0), 6),
                Self.pad(Terminal.count(row.states[.returned] ?? 0), 10),
                Self.pad(row.queue.map { Terminal.count($0.messages) } ?? "—", 7),
                Self.pad(row.queue.map { Terminal.count($0.consumers) } ?? "—", 11),
                Self.pad(row.oldestWaiting.map(Self.age) ?? "—", 13),
                "  " + Self.latency(row.latency),
            ]
            out.append("  " + columns.joined())
        }
        out.append("  stage latency (queued → done): the latest \(Terminal.count(StoreSnapshot.latencySample)) completions of each stage in the period")
        out.append("  end to end (submitted → delivered): " + Self.latency(report.endToEnd)
            + " over \(Terminal.plural(report.endToEnd.count, "parcel")) delivered in the period")
        if let dead = report.deadQueue {
            out.append("  dead-letter queue: \(Terminal.plural(dead.messages, "message")) (parcelctl dlq list)")
        }
        if !report.attention.isEmpty {
            out.append("")
            out.append("  Needs attention (latest first):")
            for item in report.attention.prefix(10) {
                // The id and the reason come from the store, which took them from messages: escaped.
                out.append("    \(Terminal.value(item.parcelID))  \(Terminal.name(item.state))"
                    + "\(item.stage.map { " at \($0.rawValue)" } ?? "")  \(DeliveryReport.time(item.at))  \(Terminal.value(item.reason ?? ""))")
            }
        }
        return out
    }

    static func bar(_ progress: Double, width: Int = 30) -> String {
        let filled = Int((min(max(progress, 0), 1) * Double(width)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let space = String(repeating: " ", count: max(0, width - text.count))
        return left ? text + space : space + text
    }

    static func latency(_ p: DeliveryReport.Percentiles) -> String {
        guard let p50 = p.p50, let p95 = p.p95, let p99 = p.p99 else { return "—" }
        return [p50, p95, p99].map(milliseconds).joined(separator: " / ")
    }

    static func milliseconds(_ value: Double) -> String {
        value < 1000 ? "\(Int(value.rounded())) ms" : "\(NumberText.decimal(value / 1000)) s"
    }

    static func age(_ seconds: TimeInterval) -> String {
        seconds < 120 ? "\(NumberText.decimal(seconds)) s"
            : seconds < 7200 ? "\(Int(seconds / 60)) min" : "\(NumberText.decimal(seconds / 3600)) h"
    }
}
