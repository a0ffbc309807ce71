import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore
import ParcelLoadTest

extension LoadTestCommand {
    /// The schedule --rate with --duration or --parcels asks for; nil for a closed-loop run.
    func openLoopSchedule() throws -> SendSchedule? {
        // Without --rate, --duration is a closed-loop run for a time (closedLoopDuration).
        guard let rate else { return nil }
        func shown(_ text: String) -> String { TerminalText.escaped(String(text.prefix(40))) }
        guard let perSecond = LoadFlags.rate(rate) else {
            throw ValidationError("--rate: '\(shown(rate))' is not a rate; give parcels per "
                + "second or minute above 0 and at most \(NumberText.integer(Int(LoadFlags.maxRate)))/s, such as 500/s or 30/m")
        }
        let count: Int
        switch (duration, parcels) {
        case (.some, .some):
            throw ValidationError("give --duration or --parcels with --rate, not both")
        case (.some(let text), nil):
            guard let seconds = LoadFlags.seconds(text) else {
                throw ValidationError("--duration: '\(shown(text))' is not a time; give one above 0 "
                    + "and at most 24h, such as 60s, 10m or 500ms")
            }
            // Both bounded above: the product fits a Double and, once checked, an Int.
            let product = (perSecond * seconds).rounded()
            guard product >= 1 else {
                throw ValidationError("--rate \(shown(rate)) for --duration \(shown(text)) is no parcel; ask for a longer time or a higher rate")
            }
            guard product <= Double(LoadFlags.maxParcels) else {
                throw ValidationError("--rate \(shown(rate)) for --duration \(shown(text)) is \(NumberText.integer(Int(product))) parcels; "
                    + "at most \(NumberText.integer(LoadFlags.maxParcels))")
            }
            count = Int(product)
        case (nil, let parcels):
            count = parcels ?? 2000
            guard count <= LoadFlags.maxParcels else {
                throw ValidationError("--parcels with --rate: at most \(NumberText.integer(LoadFlags.maxParcels))")
            }
        }
        return SendSchedule(rate: perSecond, count: count)
    }
}

extension LoadTestCommand {
    /// The ramp --ramp START:STEP:LENGTH with --p99-bound asks for; nil without --ramp.
    func rampPlan() throws -> Ramp? {
        func shown(_ text: String) -> String { TerminalText.escaped(String(text.prefix(40))) }
        guard let ramp else {
            if p99Bound != nil { throw ValidationError("--p99-bound needs --ramp (e.g. --ramp 200/s:200/s:10s --p99-bound 250ms)") }
            return nil
        }
        if rate != nil || duration != nil || parcels != nil {
            throw ValidationError("--ramp sets each step's rate and parcels: give it without --rate, --duration and --parcels")
        }
        let parts = ramp.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let start = LoadFlags.rate(parts[0]), let step = LoadFlags.rate(parts[1]),
              let seconds = LoadFlags.seconds(parts[2]) else {
            throw ValidationError("--ramp: '\(shown(ramp))' is not START:STEP:LENGTH; give two rates and a time, such as 200/s:200/s:10s")
        }
        guard let boundText = p99Bound else { throw ValidationError("--ramp needs --p99-bound (e.g. 250ms): the p99 a step must keep") }
        guard let bound = LoadFlags.seconds(boundText) else {
            throw ValidationError("--p99-bound: '\(shown(boundText))' is not a time; give one above 0, such as 250ms or 1s")
        }
        let rates = Ramp.rates(start: start, step: step, seconds: seconds)
        guard !rates.isEmpty, (rates[0] * seconds).rounded() >= 1 else {
            throw ValidationError("--ramp: its first step is no parcel, or more than \(NumberText.integer(LoadFlags.maxParcels)); "
                + "change its rate or length")
        }
        return Ramp(rates: rates, stepSeconds: seconds, p99Bound: bound * 1000)
    }

    /// Runs the ramp: each step a load test of its own, derived from `base` (its namespace, store,
    /// logs and parcel ids suffixed with the step).
    func runRamp(_ ramp: Ramp, base: LoadTest.Configuration, own: Bool, folder: URL) async throws {
        let bar = ProgressBar(label: "final")
        let ownSQLite = own && store.location == nil
        let running = Task { [base] in
            try await ramp.run(configuration: { index, _ in
                var config = base
                config.idPrefix = base.idPrefix + "-S\(index + 1)"
                config.logFolder = folder.appendingPathComponent("logs-step\(index + 1)")
                if own { config.topology.namespace = base.topology.namespace + ".s\(index + 1)" }
                if ownSQLite { config.store = .sqlite(path: folder.appendingPathComponent("status-step\(index + 1).db").path) }
                return config
            }, progress: { _, progress in bar.update(progress.final, of: progress.total) })
        }
        let interruption = SignalEscalation(first: {
            Terminal.error("parcelctl loadtest: stopping the ramp (a second signal exits at once)")
            running.cancel()
        })
        defer { interruption.stop() }
        let report: RampReport
        do {
            report = try await running.value
        } catch {
            bar.finish()
            if !keep { try? FileManager.default.removeItem(at: folder) }
            if interruption.happened { throw ExitCode(130) }
            throw CommandFailure("the ramp could not run: \(error)")
        }
        bar.finish()
        if !keep, own {
            try? await broker.withConnection(name: "parcelctl loadtest cleanup") { connection in
                for index in report.steps.indices {
                    var topology = base.topology
                    topology.namespace = base.topology.namespace + ".s\(index + 1)"
                    try await topology.delete(on: try await connection.openChannel())
                }
            }
        }
        if !keep {
            if report.passed {
                try? FileManager.default.removeItem(at: folder)
            } else {
                Terminal.error("parcelctl loadtest: a step's verdict failed; the workers' logs are kept in \(folder.path)")
            }
        }
        print(json ? report.json.serialized(pretty: true) : report.lines.joined(separator: "\n"))
        if !report.passed { throw ExitCode(1) }
    }
}
