import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore
import ParcelLoadTest

extension LoadTestCommand {
    /// How long a closed-loop run submits, from --duration without --rate; nil otherwise.
    func closedLoopDuration() throws -> Double? {
        guard rate == nil, let duration else { return nil }
        guard let seconds = LoadFlags.seconds(duration) else {
            throw ValidationError("--duration: '\(Self.shown(duration))' is not a time; give one above 0 "
                + "and at most 24h, such as 60s, 10m or 500ms")
        }
        if parcels != nil { throw ValidationError("give --duration or --parcels, not both") }
        if kills != nil, killWorkerEvery == nil {
            throw ValidationError("--kills alone spreads kills over the parcels given, and --duration gives none: "
                + "add --kill-worker-every, or give --parcels")
        }
        return seconds
    }

    /// The soak's interval, from --interval or scaled to the run (``SoakReport/defaultInterval(parcels:duration:)``).
    func soakInterval() throws -> Double {
        guard let interval else {
            return SoakReport.defaultInterval(parcels: parcels ?? 2000, duration: try closedLoopDuration()
                ?? (rate == nil ? nil : duration.flatMap(LoadFlags.seconds)))
        }
        guard let seconds = LoadFlags.seconds(interval), seconds >= SoakReport.shortestInterval, seconds <= 3_600 else {
            throw ValidationError("--interval: '\(Self.shown(interval))' is not a time from 250ms to 1h, such as 10s or 500ms")
        }
        return seconds
    }

    /// What --keep kept, for a script to read the store afterwards (`parcelctl report --store …`); a
    /// password in a PostgreSQL URL is hidden, as in every output (the script gives it as it gave it here).
    static func keptJSON(store: StoreLocation, namespace: String) -> JSONValue {
        .object(["store": .string(store.description), "namespace": .string(namespace)])
    }

    private static func shown(_ text: String) -> String { TerminalText.escaped(String(text.prefix(40))) }
}
