import Foundation
import ParcelCore

extension LoadTestReport {
    /// One cluster node stopped and started again during the run (`--stop-node-at`,
    /// `--rolling-restart-at`). Times are seconds into the run.
    public struct NodeRestart: Sendable, Hashable {
        /// The node's Erlang name (`parcelflow-c2@localhost`).
        public var node: String
        /// Stage queues it led when it was chosen (the node leading most is the one stopped), of all.
        public var stageQueuesLed: Int?
        public var stageQueues: Int
        /// When the stop command began, and how long it took (nil: it failed).
        public var stoppedAt: Double
        public var stopSeconds: Double?
        /// When the start command began (nil: never), and when the cluster was whole again after it.
        public var startedAt: Double?
        public var backAt: Double?
        /// Parcels final when the stop began: fewer than all means the stop came under load.
        public var finalAtStop: Int
        /// The recovery probe's longest pause across the stop: its last confirm before the node went
        /// to its first after (nil: not measured).
        public var recoverySeconds: Double?
        /// What happened to it: `stopped`, or a partition's (``Partition``) — then "stopped" and "started"
        /// above are its cut and its heal.
        public var fault: String

        public init(node: String, stageQueuesLed: Int?, stageQueues: Int, stoppedAt: Double, stopSeconds: Double?,
                    startedAt: Double?, backAt: Double?, finalAtStop: Int, recoverySeconds: Double?, fault: String = "stopped") {
            self.node = node
            self.stageQueuesLed = stageQueuesLed
            self.stageQueues = stageQueues
            self.stoppedAt = stoppedAt
            self.stopSeconds = stopSeconds
            self.startedAt = startedAt
            self.backAt = backAt
            self.finalAtStop = finalAtStop
            self.recoverySeconds = recoverySeconds
            self.fault = fault
        }
    }

    /// The longest recovery of any node stopped (nil when none was measured).
    public var longestRecoverySeconds: Double? { nodeRestarts.compactMap(\.recoverySeconds).max() }

    /// The members `json` adds for a cluster run.
    var clusterJSON: [String: JSONValue] {
        func number(_ value: Double?, places: Double = 1000) -> JSONValue {
            value.map { .number(($0 * places).rounded() / places) } ?? .null
        }
        return [
            "node_restarts": .array(nodeRestarts.map { restart in
                .object([
                    "node": .string(restart.node), "fault": .string(restart.fault),
                    "stage_queues_led": .int(restart.stageQueuesLed),
                    "stopped_at_s": number(restart.stoppedAt), "stop_s": number(restart.stopSeconds),
                    "started_at_s": number(restart.startedAt), "back_at_s": number(restart.backAt),
                    "final_at_stop": .int(restart.finalAtStop),
                    "recovery_ms": number(restart.recoverySeconds.map { $0 * 1000 }, places: 10),
                ])
            }),
            "recovery_ms_max": number(longestRecoverySeconds.map { $0 * 1000 }, places: 10),
            "probe_usual_gap_ms": number(probeUsualGapSeconds.map { $0 * 1000 }, places: 10),
            "chaos_failures": .array(chaosFailures.map { .string($0) }),
        ]
    }

    /// The lines the text report gives a cluster run.
    var clusterLines: [String] {
        guard !nodeRestarts.isEmpty else { return [] }
        func time(_ seconds: Double?) -> String { seconds.map { "\(NumberText.decimal($0)) s" } ?? "never" }
        var out = ["Cluster nodes stopped or cut off (seconds into the run; the probe's usual gap between confirms "
            + "\(probeUsualGapSeconds.map { "\(NumberText.decimal($0 * 1000)) ms" } ?? "unknown")):"]
        for restart in nodeRestarts {
            let led = restart.stageQueuesLed.map { ", leading \($0) of \(restart.stageQueues) stage queues" } ?? ""
            let (cut, back) = restart.fault == "stopped" ? ("stopped", "started") : (restart.fault, "healed")
            out.append("  \(restart.node)\(led): \(cut) at \(time(restart.stoppedAt)) with "
                + "\(NumberText.integer(restart.finalAtStop)) of \(NumberText.integer(parcels)) parcels final "
                + "(that took \(time(restart.stopSeconds))), \(back) at \(time(restart.startedAt)), "
                + "cluster whole at \(time(restart.backAt)); recovery (no confirm) "
                + (restart.recoverySeconds.map { "\(NumberText.decimal($0 * 1000)) ms" } ?? "not measured"))
        }
        if nodeRestarts.count > 1, let longest = longestRecoverySeconds {
            out.append("  longest recovery \(NumberText.decimal(longest * 1000)) ms")
        }
        return out
    }
}
