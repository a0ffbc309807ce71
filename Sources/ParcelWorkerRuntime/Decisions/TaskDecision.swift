import Foundation
import ParcelCore

/// What a worker does with one message: publish this (if anything) with a confirm, then acknowledge.
public struct TaskDecision: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable, CaseIterable {
        /// A stage done, the next one published.
        case completed
        /// The delivery stage done: the parcel is delivered.
        case delivered
        case held
        case retried
        case deadLettered = "dead_lettered"
        /// A redelivery of work already done.
        case duplicate
        /// A task for a parcel that is already final.
        case stale
    }

    public enum Publish: Sendable, Hashable {
        /// The next stage's task, to the tasks exchange.
        case next(TaskEnvelope)
        /// A retry copy, to the delay queue of `delay`'s tier, expiring after `expiration` (≤ `delay`: jitter).
        case retry(TaskEnvelope, delay: Duration, expiration: Duration)
        /// To the dead-letter exchange.
        case deadLetter(DeadLetter)
    }

    public let outcome: Outcome
    public let publish: Publish?
    /// When a delivered parcel was submitted (its end-to-end latency); nil for other outcomes.
    public let submittedAt: Date?

    public init(outcome: Outcome, publish: Publish?, submittedAt: Date? = nil) {
        self.outcome = outcome
        self.publish = publish
        self.submittedAt = submittedAt
    }
}
