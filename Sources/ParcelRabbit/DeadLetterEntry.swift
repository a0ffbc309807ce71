import AMQP
import Foundation
import ParcelCore
import ParcelWorkerRuntime

/// One message in the dead-letter queue, read for a person: which parcel, at which stage, after how
/// many attempts, and why.
///
/// Letters come from two places. A worker that gives up publishes the task with ParcelFlow's own
/// headers (``DeadLetter/Header``). The broker itself dead-letters a message that reached the stage
/// queue's delivery limit (it kept killing workers): that one carries only RabbitMQ's `x-death`
/// header, and is reported as kind ``Kind/poison`` with the stage its queue was for.
public struct DeadLetterEntry: Sendable {
    /// Why the letter is there: the worker's ``TaskFailure/Kind``, or what the broker says.
    public struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Kept stopping workers: quarantined by a worker on its last allowed delivery, or dead-lettered
        /// by the broker after the stage queue's delivery limit.
        public static let poison = Kind(rawValue: TaskFailure.Kind.poison.rawValue)
        /// Dead-lettered by the broker for another reason (rejected, expired, queue full).
        public static let broker = Kind(rawValue: "broker")
        /// No header says: someone published it to the dead-letter exchange by hand.
        public static let unknown = Kind(rawValue: "unknown")

        public var description: String { rawValue }
    }

    public var parcelID: String?
    /// The AMQP message-id (`<parcel id>:<stage>`).
    public var taskID: String?
    public var stage: Stage?
    /// The task's attempts at its stage when it was given up.
    public var attempts: Int
    public var kind: Kind
    public var reason: String
    /// When the letter was written: the message's timestamp, or the broker's time of death.
    public var at: Date?
    /// True when the broker dead-lettered it (no ParcelFlow headers).
    public var fromBroker: Bool
    /// When its personal data was erased: its task and reason are gone, only the anonymous rest stays.
    public var erasedAt: Date?
    /// The message as it is in the queue.
    public var body: Data
    public var properties: AMQPProperties
    public var routingKey: String
    /// The body as a task, or why it is not one (such a letter cannot be replayed).
    public var task: Result<TaskEnvelope, TaskRejection>

    /// Reads a message taken from `topology`'s dead-letter queue.
    public init(body: Data, properties: AMQPProperties, routingKey: String, topology: ParcelTopology) {
        self.body = body
        self.properties = properties
        self.routingKey = routingKey
        task = TaskEnvelope.decode(body)
        let decoded = try? task.get()
        let headers = properties.headers ?? [:]
        parcelID = properties.correlationID ?? decoded?.parcelID
        taskID = properties.messageID ?? decoded?.taskID
        at = properties.timestamp.map { Date(timeIntervalSince1970: TimeInterval($0)) }

        if case .timestamp(let seconds)? = headers[DeadLetter.Header.erasedAt] {
            erasedAt = Date(timeIntervalSince1970: TimeInterval(seconds))
        }
        if let kind = headers[DeadLetter.Header.kind]?.stringValue {
            fromBroker = false
            self.kind = Kind(rawValue: kind)
            reason = headers[DeadLetter.Header.reason]?.stringValue ?? "(no reason given)"
            attempts = headers[DeadLetter.Header.attempts]?.intValue ?? decoded?.attempt ?? 0
            stage = headers[DeadLetter.Header.stage]?.stringValue.flatMap(Stage.init(rawValue:))
                ?? Stage(rawValue: routingKey) ?? decoded?.stage
        } else if let death = Self.latestDeath(headers) {
            fromBroker = true
            let why = death["reason"]?.stringValue ?? "unknown"
            if why == "delivery_limit" {
                kind = .poison
                reason = "delivery limit reached"
            } else {
                kind = .broker
                reason = "dead-lettered by the broker: \(why)"
            }
            attempts = decoded?.attempt ?? 0
            // The queue it died in names the stage (`<namespace>.<stage>`); else its routing key.
            let queue = death["queue"]?.stringValue ?? ""
            stage = queue.hasPrefix(topology.namespace + ".")
                ? Stage(rawValue: String(queue.dropFirst(topology.namespace.count + 1))) : nil
            stage = stage ?? Stage(rawValue: routingKey) ?? decoded?.stage
            if case .timestamp(let seconds)? = death["time"] { at = Date(timeIntervalSince1970: TimeInterval(seconds)) }
        } else {
            fromBroker = false
            kind = .unknown
            reason = "the message carries no dead-letter headers"
            attempts = decoded?.attempt ?? 0
            stage = Stage(rawValue: routingKey) ?? decoded?.stage
        }
    }

    /// The most recent `x-death` entry: RabbitMQ keeps the latest first. A poison task that waited
    /// in a retry queue before also carries an older `expired` entry, which does not count.
    static func latestDeath(_ headers: AMQPTable) -> AMQPTable? {
        guard let deaths = headers["x-death"]?.arrayValue?.compactMap(\.tableValue), !deaths.isEmpty else { return nil }
        let lastQueue = headers["x-last-death-queue"]?.stringValue
        let lastReason = headers["x-last-death-reason"]?.stringValue
        return deaths.first { $0["queue"]?.stringValue == lastQueue && $0["reason"]?.stringValue == lastReason }
            ?? deaths[0]
    }

    /// True when `id` is this letter's parcel id or task id.
    public func matches(_ id: String) -> Bool {
        id == parcelID || id == taskID
    }

    /// True when the body is a valid task, so that a replay can put it back.
    public var replayable: Bool { (try? task.get()) != nil }
}
