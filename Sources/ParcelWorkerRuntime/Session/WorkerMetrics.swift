import CoreMetrics
import Foundation
import ParcelCore
import Synchronization

extension ParcelMetrics {
    /// The handles one worker records into, made once (a lookup per task would cost more than the count).
    public struct Worker: Sendable {
        private let outcomes: [Stage: [TaskDecision.Outcome: Counter]]
        private let requeues: [Stage: Counter]
        private let durations: [Stage: CoreMetrics.Timer]
        private let inFlightTasks: [Stage: Meter]
        private let latency: CoreMetrics.Timer
        private let reconnectCount: Counter
        private let storeErrorCount: Counter
        private let readiness: Gauge
        /// Tasks begun and not yet settled or requeued, over every stage, read back (the meters are not).
        private let inFlightCount = InFlightCount()

        public init() {
            var outcomes: [Stage: [TaskDecision.Outcome: Counter]] = [:]
            var requeues: [Stage: Counter] = [:]
            var durations: [Stage: CoreMetrics.Timer] = [:]
            var inFlightTasks: [Stage: Meter] = [:]
            for stage in Stage.allCases {
                let label = [("stage", stage.rawValue)]
                // One counter per label (a stage done and a delivery share "succeeded"), every one made
                // up front so that each series shows from the start.
                var byLabel: [String: Counter] = [:]
                for outcome in TaskDecision.Outcome.allCases {
                    let name = Self.outcomeLabel(outcome)
                    let counter = byLabel[name] ?? Counter(label: ParcelMetrics.tasks, dimensions: label + [("outcome", name)])
                    byLabel[name] = counter
                    outcomes[stage, default: [:]][outcome] = counter
                }
                requeues[stage] = Counter(label: ParcelMetrics.requeued, dimensions: label)
                durations[stage] = CoreMetrics.Timer(label: ParcelMetrics.taskDuration, dimensions: label)
                inFlightTasks[stage] = Meter(label: ParcelMetrics.inFlight, dimensions: label)
            }
            self.outcomes = outcomes
            self.requeues = requeues
            self.durations = durations
            self.inFlightTasks = inFlightTasks
            latency = CoreMetrics.Timer(label: ParcelMetrics.parcelLatency)
            reconnectCount = Counter(label: ParcelMetrics.reconnects)
            storeErrorCount = Counter(label: ParcelMetrics.storeErrors)
            readiness = Gauge(label: ParcelMetrics.ready)
        }

        /// The outcome label of a settled task: both a stage done and a delivery count as succeeded.
        public static func outcomeLabel(_ outcome: TaskDecision.Outcome) -> String {
            switch outcome {
            case .completed, .delivered: "succeeded"
            case .retried, .deadLettered, .held, .duplicate, .stale: outcome.rawValue
            }
        }

        /// `count` tasks of `stage` begun.
        public func started(_ stage: Stage, count: Int = 1) {
            inFlightTasks[stage]!.increment(by: Double(count))
            inFlightCount.value.add(count, ordering: .relaxed)
        }

        /// Tasks begun and not yet settled or requeued (deliveries taken and not acknowledged).
        public var tasksInFlight: Int { inFlightCount.value.load(ordering: .relaxed) }

        /// A task settled: acknowledged after its follow-up was confirmed.
        public func settled(_ stage: Stage, _ outcome: TaskDecision.Outcome, after duration: Duration, submittedAt: Date?) {
            inFlightTasks[stage]!.decrement()
            inFlightCount.value.subtract(1, ordering: .relaxed)
            outcomes[stage]![outcome]!.increment()
            let (seconds, attoseconds) = duration.components
            durations[stage]!.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            if outcome == .delivered, let submittedAt {
                latency.recordNanoseconds(Int64(max(0, Date().timeIntervalSince(submittedAt)) * 1e9))
            }
        }

        /// A task put back on its queue, unsettled.
        public func requeued(_ stage: Stage) {
            inFlightTasks[stage]!.decrement()
            inFlightCount.value.subtract(1, ordering: .relaxed)
            requeues[stage]!.increment()
        }

        public func reconnected() { reconnectCount.increment() }

        /// A store operation failed; it is tried again.
        public func storeFailed() { storeErrorCount.increment() }

        public func setReady(_ isReady: Bool) { readiness.record(isReady ? 1 : 0) }
    }
}

/// The worker's tasks in flight as a number it can read back (a metrics meter only records).
final class InFlightCount: Sendable {
    let value = Atomic<Int>(0)
}
