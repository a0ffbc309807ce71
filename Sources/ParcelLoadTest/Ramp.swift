import Foundation
import ParcelCore

/// A ramp: open-loop steps at a rising rate until a step's p99 end to end passes a bound; the highest
/// rate that held is what the system sustains under that bound.
///
/// Each step is a whole open-loop load test of its own (workers started, a namespace and a store of its
/// own, the same verdict), so a step's backlog does not spill into the next one's latencies; the price
/// is the workers' start between steps. A step whose verdict fails ends the ramp as a failure.
public struct Ramp: Sendable {
    /// The steps' rates: `start`, `start + step`, …, at most ``maxSteps`` of them, none past
    /// ``LoadFlags/maxRate`` or ``LoadFlags/maxParcels`` parcels.
    public static func rates(start: Double, step: Double, seconds: Double) -> [Double] {
        var rates: [Double] = []
        var rate = start
        while rates.count < maxSteps, rate <= LoadFlags.maxRate, (rate * seconds).rounded() <= Double(LoadFlags.maxParcels) {
            rates.append(rate)
            rate += step
        }
        return rates
    }

    public static let maxSteps = 20

    public struct Step: Sendable {
        public var rate: Double
        public var report: LoadTestReport
        /// p99 end to end from the intended send time, ms.
        public var p99: Double { report.openLoop?.endToEnd.p99 ?? .infinity }
    }

    public let rates: [Double]
    public let stepSeconds: Double
    /// The bound on a step's p99 end to end, ms.
    public let p99Bound: Double

    public init(rates: [Double], stepSeconds: Double, p99Bound: Double) {
        self.rates = rates
        self.stepSeconds = stepSeconds
        self.p99Bound = p99Bound
    }

    /// Runs the steps; `configuration(k, schedule)` gives step k's load test (its own namespace, store,
    /// id prefix) for its schedule.
    public func run(configuration: (Int, SendSchedule) throws -> LoadTest.Configuration,
                    progress: @escaping @Sendable (Int, LoadTest.Progress) -> Void = { _, _ in }) async throws -> RampReport {
        var steps: [Step] = []
        for (index, rate) in rates.enumerated() {
            try Task.checkCancellation()
            let schedule = SendSchedule(rate: rate, count: max(1, Int((rate * stepSeconds).rounded())))
            var config = try configuration(index, schedule)
            config.openLoop = schedule
            config.parcels = schedule.count
            let report = try await LoadTest(config).run { progress(index, $0) }
            steps.append(Step(rate: rate, report: report))
            if !report.passed || steps.last!.p99 > p99Bound { break }
        }
        return RampReport(steps: steps, stepSeconds: stepSeconds, p99Bound: p99Bound)
    }
}

/// What a ramp found: each step's rate and p99, and the highest rate whose p99 stayed within the bound.
public struct RampReport: Sendable {
    public let steps: [Ramp.Step]
    public let stepSeconds: Double
    public let p99Bound: Double

    /// Each step's broken invariants, named by its rate.
    public var violations: [String] {
        steps.flatMap { step in step.report.violations.map { "at \(NumberText.decimal(step.rate))/s: \($0)" } }
    }

    public var passed: Bool { violations.isEmpty }

    /// The last step that held: every step before it held too (the ramp stops at the first that did not).
    public var highestRateHeld: Double? {
        steps.last { $0.report.passed && $0.p99 <= p99Bound }?.rate
    }

    /// True when the last step passed the bound; false when every step held (the system may sustain more).
    public var boundReached: Bool { steps.last.map { $0.p99 > p99Bound } ?? false }

    public var json: JSONValue {
        func number(_ value: Double, places: Double = 1000) -> JSONValue { value.isFinite ? .number((value * places).rounded() / places) : .null }
        return .object([
            "ok": .bool(passed),
            "violations": .array(violations.map { .string($0) }),
            "open_loop": .object(["ramp": .object([
                "step_seconds": number(stepSeconds), "p99_bound_ms": number(p99Bound),
                "highest_rate_held_per_s": highestRateHeld.map { number($0) } ?? .null,
                "bound_reached": .bool(boundReached),
                "steps": .array(steps.map { step in
                    .object(step.report.cpuJSON.merging([
                        "rate_per_s": number(step.rate), "p99_ms": number(step.p99),
                        "held": .bool(step.report.passed && step.p99 <= p99Bound), "ok": .bool(step.report.passed),
                        "tasks": .int(step.report.tasks), "open_loop": step.report.openLoop?.json ?? .null]) { $1 })
                }),
            ])]),
        ])
    }

    public var lines: [String] {
        var out: [String] = []
        out.append(passed ? "PASSED: every step's parcels final, none lost, none applied twice." : "FAILED: " + violations.joined(separator: "; "))
        for step in steps {
            let open = step.report.openLoop
            out.append("  \(NumberText.decimal(step.rate))/s for \(NumberText.decimal(stepSeconds)) s: p99 end to end "
                + "\(NumberText.decimal(step.p99)) ms (p99.9 \(NumberText.decimal(open?.endToEnd.p999 ?? 0)) ms), "
                + "submitted at \(NumberText.decimal(open?.submittedPerSecond ?? 0))/s, backlog at the end \(open?.backlogAtEnd ?? 0)"
                + (step.p99 > p99Bound ? " — past the bound" : ""))
        }
        let bound = "\(NumberText.decimal(p99Bound)) ms"
        if let held = highestRateHeld {
            out.append("Highest rate that held p99 ≤ \(bound): \(NumberText.decimal(held))/s"
                + (boundReached ? "" : " (the last step asked for; the bound was not reached)"))
        } else {
            out.append("No step held p99 ≤ \(bound)")
        }
        return out
    }
}
