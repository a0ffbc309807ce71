import ArgumentParser
import Foundation
import ParcelCore

/// The delivery target and its period: from flags, else the environment; never from code.
public struct TargetOptions: ParsableArguments {
    public init() {}

    @Option(help: ArgumentHelp(
        "The month the target is for, as YYYY-MM (UTC).",
        discussion: "Default: PARCELFLOW_PERIOD, else the current month.", valueName: "month"))
    public var period: String?

    @Option(help: ArgumentHelp(
        "Parcels to deliver in the period.",
        discussion: "Default: PARCELFLOW_TARGET; without one, no forecast is made.", valueName: "parcels"))
    public var target: Int?

    /// The period and target these options name.
    public func setting() throws -> TargetSetting {
        TargetSetting(period: try resolvedPeriod(), target: try resolvedTarget())
    }

    /// The period named, or nil for "the current month" (which a long-running process re-reads).
    public func resolvedPeriod() throws -> ReportPeriod? {
        guard let text = period ?? ProcessInfo.processInfo.environment["PARCELFLOW_PERIOD"] else { return nil }
        guard let period = ReportPeriod(text) else {
            throw ValidationError("--period '\(text)': give a month as YYYY-MM, such as 2026-12")
        }
        return period
    }

    /// The target, if one is set.
    public func resolvedTarget() throws -> Int? {
        if let target {
            guard target > 0 else { throw ValidationError("--target must be 1 or more parcels") }
            return target
        }
        guard let text = ProcessInfo.processInfo.environment["PARCELFLOW_TARGET"], !text.isEmpty else { return nil }
        guard let value = Int(text), value > 0 else {
            throw ValidationError("PARCELFLOW_TARGET '\(text)': give a number of parcels, 1 or more")
        }
        return value
    }

    public func validate() throws {
        _ = try resolvedPeriod()
        _ = try resolvedTarget()
    }
}

/// A period (nil: whichever month it is now) and a target (nil: none set).
public struct TargetSetting: Sendable, Hashable {
    public var period: ReportPeriod?
    public var target: Int?

    public init(period: ReportPeriod?, target: Int?) {
        self.period = period
        self.target = target
    }

    public func period(at now: Date) -> ReportPeriod {
        period ?? ReportPeriod.month(containing: now)
    }
}
