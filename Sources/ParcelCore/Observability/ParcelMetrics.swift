import CoreMetrics
import Foundation

/// The metrics ParcelFlow records, through swift-metrics: whichever backend the program bootstraps
/// (parcel-worker: Prometheus) receives them; with none, they cost a no-op call.
///
/// Labels are bounded — stage, outcome, queue — never a parcel id or a name.
public enum ParcelMetrics {
    /// Every metric: its name and meaning (the `# HELP` line of `/metrics`).
    public struct Description: Sendable, Hashable {
        public let name: String
        public let help: String
    }

    public static let tasks = "parcelflow_tasks_total"
    public static let requeued = "parcelflow_tasks_requeued_total"
    public static let taskDuration = "parcelflow_task_duration_seconds"
    public static let parcelLatency = "parcelflow_parcel_latency_seconds"
    public static let inFlight = "parcelflow_tasks_in_flight"
    public static let queueMessages = "parcelflow_queue_messages"
    public static let queueConsumers = "parcelflow_queue_consumers"
    public static let reconnects = "parcelflow_reconnects_total"
    public static let storeErrors = "parcelflow_store_errors_total"
    public static let ready = "parcelflow_worker_ready"
    public static let periodDelivered = "parcelflow_period_delivered"
    public static let periodTarget = "parcelflow_period_target"
    public static let periodNeededPerHour = "parcelflow_period_needed_per_hour"
    public static let periodProjected = "parcelflow_period_projected"
    public static let periodRemainingSeconds = "parcelflow_period_remaining_seconds"

    public static let catalogue: [Description] = [
        Description(name: tasks,
                    help: "Tasks settled (acknowledged), by stage and outcome: succeeded, retried, dead_lettered, held, duplicate, stale."),
        Description(name: requeued, help: "Tasks put back on their queue because the store or the follow-up publish failed."),
        Description(name: taskDuration, help: "Time from a task's delivery to its acknowledgement, by stage."),
        Description(name: parcelLatency, help: "Time from a parcel's submission to its delivery."),
        Description(name: inFlight, help: "Tasks being worked now, by stage."),
        Description(name: queueMessages, help: "Messages ready in a queue: the stage queues and the dead-letter queue."),
        Description(name: queueConsumers, help: "Consumers on a queue."),
        Description(name: reconnects, help: "Times the worker reconnected to the broker."),
        Description(name: storeErrors,
                    help: "Status store operations that failed and were tried again (their tasks wait, unacknowledged)."),
        Description(name: ready, help: "1 while the worker is connected, its topology declared and consuming."),
        Description(name: periodDelivered, help: "Parcels delivered in the current target period (from the store)."),
        Description(name: periodTarget, help: "Parcels to deliver in the current target period."),
        Description(name: periodNeededPerHour, help: "Deliveries per hour needed from now to meet the period's target."),
        Description(name: periodProjected, help: "Deliveries projected by the period's end if the rate so far holds."),
        Description(name: periodRemainingSeconds, help: "Seconds left in the current target period."),
    ]

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
        }

        /// A task settled: acknowledged after its follow-up was confirmed.
        public func settled(_ stage: Stage, _ outcome: TaskDecision.Outcome, after duration: Duration, submittedAt: Date?) {
            inFlightTasks[stage]!.decrement()
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
            requeues[stage]!.increment()
        }

        public func reconnected() { reconnectCount.increment() }

        /// A store operation failed; it is tried again.
        public func storeFailed() { storeErrorCount.increment() }

        public func setReady(_ isReady: Bool) { readiness.record(isReady ? 1 : 0) }

        /// What the broker said of one queue.
        public func queue(_ name: String, messages: Int, consumers: Int) {
            Gauge(label: queueMessages, dimensions: [("queue", name)]).record(messages)
            Gauge(label: queueConsumers, dimensions: [("queue", name)]).record(consumers)
        }
    }

    /// The target gauges: deliveries in the period and, with a target, where it stands.
    public static func recordPeriod(_ period: ReportPeriod, delivered: Int, target: Int?, now: Date) {
        Gauge(label: periodDelivered).record(delivered)
        Gauge(label: periodRemainingSeconds).record(period.remainingDays(at: now) * 86_400)
        guard let target else { return }
        let forecast = TargetForecast(target: target, delivered: delivered, period: period, now: now)
        Gauge(label: periodTarget).record(target)
        Gauge(label: periodNeededPerHour).record((forecast.neededPerDay ?? 0) / 24)
        Gauge(label: periodProjected).record(forecast.projected ?? Double(delivered))
    }
}
