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
    public static let publishesResent = "parcelflow_publishes_resent_total"
    public static let consumerCancels = "parcelflow_consumer_cancels_total"
    public static let publishingBlocked = "parcelflow_publishing_blocked"
    public static let storeErrors = "parcelflow_store_errors_total"
    public static let ready = "parcelflow_worker_ready"
    public static let periodDelivered = "parcelflow_period_delivered"
    public static let periodTarget = "parcelflow_period_target"
    public static let periodNeededPerHour = "parcelflow_period_needed_per_hour"
    public static let periodProjected = "parcelflow_period_projected"
    public static let periodRemainingSeconds = "parcelflow_period_remaining_seconds"
    public static let held = "parcelflow_parcels_held"
    public static let periodReturned = "parcelflow_period_returned"
    public static let httpHandlerAnswers = "parcelflow_http_handler_answers_total"

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
        Description(name: publishesResent,
                    help: "Follow-ups published again: their connection was lost before the broker confirmed them (sent through a new one), or the broker nacked them."),
        Description(name: consumerCancels,
                    help: "Times the broker cancelled a stage's consumer (basic.cancel) and the worker subscribed again, by stage."),
        Description(name: publishingBlocked,
                    help: "1 while the broker blocks the worker's publishing (connection.blocked: a memory or disk alarm); its tasks wait."),
        Description(name: storeErrors,
                    help: "Status store operations that failed and were tried again (their tasks wait, unacknowledged)."),
        Description(name: ready, help: "1 while the worker is connected, its topology declared and consuming."),
        Description(name: periodDelivered, help: "Parcels delivered in the current target period (from the store)."),
        Description(name: periodTarget, help: "Parcels to deliver in the current target period."),
        Description(name: periodNeededPerHour, help: "Deliveries per hour needed from now to meet the period's target."),
        Description(name: periodProjected, help: "Deliveries projected by the period's end if the rate so far holds."),
        Description(name: periodRemainingSeconds, help: "Seconds left in the current target period."),
        Description(name: held, help: "Parcels held for review now, at any stage (from the store; parcelctl holds lists them)."),
        Description(name: periodReturned,
                    help: "Parcels returned to their senders in the current target period (from the store; parcelctl return)."),
        Description(name: httpHandlerAnswers,
                    help: "Answers to the HTTP stage handler's requests, by stage and answer: 2xx, 3xx, 4xx, 5xx, or timeout, refused (too large), tls, unreachable, error."),
    ]


    /// The broker blocked (true) or unblocked the worker's publishing connection.
    public static func recordPublishingBlocked(_ blocked: Bool) {
        Gauge(label: publishingBlocked).record(blocked ? 1 : 0)
    }

    /// Follow-ups sent again after their connection was lost.
    public static func recordResent(_ count: Int) {
        Counter(label: publishesResent).increment(by: count)
    }

    /// The broker cancelled `stage`'s consumer; it subscribed again.
    public static func recordConsumerCancelled(_ stage: Stage) {
        Counter(label: consumerCancels, dimensions: [("stage", stage.rawValue)]).increment()
    }

    /// What the broker said of one queue.
    public static func recordQueue(_ name: String, messages: Int, consumers: Int) {
        Gauge(label: queueMessages, dimensions: [("queue", name)]).record(messages)
        Gauge(label: queueConsumers, dimensions: [("queue", name)]).record(consumers)
    }

    /// The review gauges: parcels held now, and returned to their senders in the period.
    public static func recordReview(held count: Int, returnedInPeriod returned: Int) {
        Gauge(label: held).record(count)
        Gauge(label: periodReturned).record(returned)
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
