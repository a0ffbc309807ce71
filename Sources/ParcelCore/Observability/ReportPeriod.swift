import Foundation

/// A calendar month in UTC — the span a delivery target is set for (`--period 2026-12`).
public struct ReportPeriod: Sendable, Hashable, CustomStringConvertible {
    /// `YYYY-MM`.
    public let name: String
    /// The first instant of the month, UTC.
    public let start: Date
    /// The first instant of the next month, UTC.
    public let end: Date

    /// Parses `YYYY-MM`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), (1...12).contains(month), year >= 1970
        else { return nil }
        let nextYear = month == 12 ? year + 1 : year
        let nextMonth = month == 12 ? 1 : month + 1
        guard let start = Timestamp.parse(Self.firstInstant(year, month)),
              let end = Timestamp.parse(Self.firstInstant(nextYear, nextMonth))
        else { return nil }
        self.name = text
        self.start = start
        self.end = end
    }

    /// The month that `date` falls in.
    public static func month(containing date: Date) -> ReportPeriod {
        ReportPeriod(String(Timestamp.format(date).prefix(7)))!
    }

    public var interval: DateInterval { DateInterval(start: start, end: end) }

    public var description: String { name }

    /// Days of the period already past at `now` (0 before it starts, all of it once it ended).
    public func elapsedDays(at now: Date) -> Double {
        min(max(now.timeIntervalSince(start), 0), end.timeIntervalSince(start)) / 86_400
    }

    /// Days of the period still ahead at `now`.
    public func remainingDays(at now: Date) -> Double {
        min(max(end.timeIntervalSince(now), 0), end.timeIntervalSince(start)) / 86_400
    }

    public enum Phase: String, Sendable { case notStarted = "not_started", running, ended }

    public func phase(at now: Date) -> Phase {
        now < start ? .notStarted : now >= end ? .ended : .running
    }

    private static func firstInstant(_ year: Int, _ month: Int) -> String {
        "\(year)-\(month < 10 ? "0" : "")\(month)-01T00:00:00Z"
    }
}

/// Where a delivery target stands: delivered so far against the target, the rate so far against the
/// rate still needed, and whether the rate so far reaches it by the period's end.
///
/// The forecast is a straight line: the period's rate so far, kept up for the days that remain.
public struct TargetForecast: Sendable, Hashable {
    public enum Verdict: String, Sendable, Hashable {
        /// Delivered at least the target.
        case met
        /// The rate so far reaches the target by the period's end.
        case onTrack = "on_track"
        /// The rate so far falls short.
        case behind
        /// The period ended short of the target.
        case missed
        /// The period has not begun.
        case notStarted = "not_started"
    }

    public let target: Int
    public let delivered: Int
    /// Parcels still to deliver (0 once met).
    public var remaining: Int { max(0, target - delivered) }
    /// `delivered / target`; above 1 when exceeded.
    public var progress: Double { target > 0 ? Double(delivered) / Double(target) : 1 }
    /// Parcels a day so far in the period; nil before it starts.
    public let ratePerDay: Double?
    /// Parcels a day needed from now to meet the target; nil once the period ended.
    public let neededPerDay: Double?
    /// Delivered by the period's end if the rate so far holds; nil without a rate.
    public let projected: Double?
    public let verdict: Verdict
    /// Parcels short at the period's end at the rate so far (0 when on track or met).
    public let behindParcels: Int
    /// Extra days the rate so far would need to close the gap; nil when not behind or the rate is 0.
    public let behindDays: Double?

    public init(target: Int, delivered: Int, period: ReportPeriod, now: Date) {
        self.target = target
        self.delivered = delivered
        let elapsed = period.elapsedDays(at: now)
        let left = period.remainingDays(at: now)
        let remaining = max(0, target - delivered)
        ratePerDay = elapsed > 0 ? Double(delivered) / elapsed : nil
        neededPerDay = left > 0 ? Double(remaining) / left : nil
        projected = ratePerDay.map { Double(delivered) + $0 * left }
        if delivered >= target {
            verdict = .met
        } else {
            switch period.phase(at: now) {
            case .notStarted: verdict = .notStarted
            case .ended: verdict = .missed
            case .running: verdict = (projected ?? 0) >= Double(target) ? .onTrack : .behind
            }
        }
        switch verdict {
        case .behind, .missed:
            let short = Double(target) - (projected ?? Double(delivered))
            behindParcels = Int(short.rounded(.up))
            behindDays = ratePerDay.flatMap { $0 > 0 ? short / $0 : nil }
        case .met, .onTrack, .notStarted:
            behindParcels = 0
            behindDays = nil
        }
    }

    /// One sentence a person reads first.
    public var summary: String {
        let rate = ratePerDay.map { NumberText.decimal($0) } ?? "0"
        switch verdict {
        case .met:
            return "Met: \(NumberText.integer(delivered)) of \(NumberText.integer(target)) delivered."
        case .onTrack:
            return "On track: \(rate) a day reaches \(NumberText.integer(Int((projected ?? 0).rounded(.down)))) by the period's end; "
                + "\(NumberText.decimal(neededPerDay ?? 0)) a day is enough."
        case .behind:
            return "Behind: \(NumberText.integer(behindParcels)) parcels short at \(rate) a day; "
                + "needs \(NumberText.decimal(neededPerDay ?? 0)) a day from now."
        case .missed:
            return "Missed: \(NumberText.integer(delivered)) of \(NumberText.integer(target)) delivered; \(NumberText.integer(remaining)) short."
        case .notStarted:
            return "Not started: \(NumberText.integer(target)) to deliver, \(NumberText.decimal(neededPerDay ?? 0)) a day."
        }
    }
}
