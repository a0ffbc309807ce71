import Foundation

/// A message given up on, and why: its headers in the dead-letter queue.
public struct DeadLetter: Sendable, Hashable {
    /// The message as it arrived, so that a replay sends exactly it.
    public var body: Data
    public var stage: Stage?
    public var parcelID: String?
    public var attempts: Int
    public var kind: TaskFailure.Kind
    public var reason: String

    /// `reason` is cut to ``Echo/maxReasonBytes``: it travels in a header.
    public init(body: Data, stage: Stage?, parcelID: String?, attempts: Int, kind: TaskFailure.Kind, reason: String) {
        self.body = body
        self.stage = stage
        self.parcelID = parcelID
        self.attempts = attempts
        self.kind = kind
        self.reason = Echo.reason(reason)
    }

    public enum Header {
        public static let stage = "x-parcelflow-stage"
        public static let attempts = "x-parcelflow-attempts"
        public static let kind = "x-parcelflow-error-kind"
        public static let reason = "x-parcelflow-reason"
        /// When the letter's personal data was erased (`parcelctl erase`): its task and reason are gone.
        public static let erasedAt = "x-parcelflow-erased-at"
    }
}
