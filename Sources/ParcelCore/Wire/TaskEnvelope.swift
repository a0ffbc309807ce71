import Foundation

/// One task on the wire: a parcel at a stage, and what earlier stages recorded.
///
/// JSON, described by `schemas/task-envelope.v1.schema.json`. The task id is the AMQP message-id
/// and the parcel id the correlation-id; the id is the same for every copy of a stage's task (a
/// retry, a re-publish after a crash), because the store is idempotent per (parcel, stage).
public struct TaskEnvelope: Sendable, Hashable {
    public static let schemaVersion = 1

    public var parcel: Parcel
    public var stage: Stage
    /// 1 for the first try of this stage, 2 for the first retry, …
    public var attempt: Int
    /// When this copy of the task was made.
    public var createdAt: Date
    /// When the parcel was submitted, for end-to-end latency.
    public var submittedAt: Date
    /// What the earlier stages recorded.
    public var payload: StagePayload

    public init(parcel: Parcel, stage: Stage, attempt: Int = 1, createdAt: Date, submittedAt: Date,
                payload: StagePayload = StagePayload()) {
        self.parcel = parcel
        self.stage = stage
        self.attempt = attempt
        self.createdAt = createdAt
        self.submittedAt = submittedAt
        self.payload = payload
    }

    public var parcelID: String { parcel.id }

    /// `<parcel id>:<stage>`.
    public var taskID: String { Self.taskID(parcelID: parcel.id, stage: stage) }

    public static func taskID(parcelID: String, stage: Stage) -> String { "\(parcelID):\(stage.rawValue)" }
}
