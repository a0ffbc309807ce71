import Foundation
import ParcelCore

extension LoadTestReport {
    /// A run whose stages (some of them) were done by the HTTP handler against the load test's own
    /// ``HandoverServer`` (`parcelctl loadtest --http-stages`): what the service saw, and whether it
    /// agrees with the store — every parcel the store has past such a stage was handed over there,
    /// and every handover taken belongs to a parcel the store has past it. The server answers a
    /// repeat of a key it took with 409, so "taken" counts each handover once however often it came.
    public struct Handover: Sendable {
        public var stages: [Stage]
        /// The share of requests the server failed on purpose (503 with `Retry-After: 1`, or 500).
        public var faultRate: Double
        public var requests: Int
        /// Requests failed on purpose.
        public var faults: Int
        /// Requests answered 409: a handover already taken, asked again.
        public var repeats: Int
        /// Requests that were not a task or had no `Idempotency-Key` (must be none).
        public var invalid: Int
        /// Handovers taken, per stage.
        public var taken: [Stage: Int]
        /// Where the service and the store disagree, in words (each one a violation).
        public var mismatches: [String]

        /// Compares what `server` took with the store's record of each of `parcelIDs`.
        static func check(server: HandoverServer, stages: [Stage], faultRate: Double, parcelIDs: [String],
                          store: any StatusStore) async throws -> Handover {
            let keys = server.taken
            var taken: [Stage: Int] = [:]
            var doneNotTaken: [Stage: [String]] = [:]
            var takenNotDone: [Stage: [String]] = [:]
            var passed: [String: Int] = [:]
            for id in parcelIDs { passed[id] = try await store.record(id)?.progress.stagesDone ?? 0 }
            for stage in stages {
                for id in parcelIDs {
                    let handed = keys.contains(TaskEnvelope.taskID(parcelID: id, stage: stage))
                    let done = passed[id, default: 0] > stage.index
                    if handed { taken[stage, default: 0] += 1 }
                    if done, !handed { doneNotTaken[stage, default: []].append(id) }
                    if handed, !done { takenNotDone[stage, default: []].append(id) }
                }
            }
            var mismatches: [String] = []
            for stage in stages {
                if let ids = doneNotTaken[stage] {
                    mismatches.append("\(ids.count) parcel(s) past \(stage) in the store were never handed over to the service: "
                        + ids.prefix(5).joined(separator: ", "))
                }
                if let ids = takenNotDone[stage] {
                    mismatches.append("\(ids.count) parcel(s) handed over at \(stage) are not past it in the store: "
                        + ids.prefix(5).joined(separator: ", "))
                }
            }
            let totals = server.totals
            if totals.invalid > 0 { mismatches.append("the service refused \(totals.invalid) request(s) as not a task") }
            return Handover(stages: stages, faultRate: faultRate, requests: totals.requests, faults: totals.faults,
                            repeats: server.repeats, invalid: totals.invalid, taken: taken, mismatches: mismatches)
        }

        var json: JSONValue {
            .object([
                "stages": .array(stages.map { .string($0.rawValue) }),
                "fault_rate": .number(faultRate),
                "requests": .int(requests), "faults": .int(faults), "repeats": .int(repeats), "invalid": .int(invalid),
                "taken": .object(Dictionary(uniqueKeysWithValues: stages.map { ($0.rawValue, JSONValue.int(taken[$0] ?? 0)) })),
                "agrees_with_store": .bool(mismatches.isEmpty),
            ])
        }

        var lines: [String] {
            let where_ = stages.map(\.rawValue).joined(separator: ", ")
            let handed = stages.map { "\(NumberText.integer(taken[$0] ?? 0)) at \($0)" }.joined(separator: ", ")
            return [
                "  HTTP handler at \(where_) (a local service failing \(NumberText.decimal(faultRate * 100)) % on purpose): "
                    + "\(NumberText.integer(requests)) requests, \(NumberText.integer(faults)) failed on purpose, "
                    + "\(NumberText.integer(repeats)) repeats answered 409; handed over \(handed)"
                    + (mismatches.isEmpty ? ", each once, as the store has them" : ""),
            ]
        }
    }
}
