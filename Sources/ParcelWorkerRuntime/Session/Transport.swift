import Foundation
import ParcelCore

// What the worker runtime needs from a broker, and nothing more. ParcelRabbit implements these over
// AMQP (RabbitTransport); the runtime never names a broker type, so the session loop, batching and
// settling can be read, and tested, without one (docs/ARCHITECTURE.md).

/// Connects the worker to its broker: one ``WorkerSession`` per connected period.
public protocol WorkerTransport: Sendable {
    /// Where the worker connects, for logs (`amqp.endpoint`); never holds a password.
    var endpoint: String { get }

    /// Connects, declares what the stages need, and starts one consumer per stage, each holding at
    /// most `prefetch` deliveries unsettled.
    func connect(stages: [Stage], prefetch: Int) async throws -> any WorkerSession

    /// What a failure means for the worker's next step (``ReconnectPolicy``).
    func classify(_ error: any Error) -> ConnectionFault
}

/// One connected period: consumers on one side, a confirming publisher on the other.
public protocol WorkerSession: Sendable {
    /// One consumer per stage asked for, in that order.
    var consumers: [(stage: Stage, consumer: any TaskConsumer)] { get }

    /// Publishes follow-ups and waits for the broker's confirms.
    var publisher: any FollowUpPublisher { get }

    /// Returns once the publishing side's connection has closed: why, or nil when it was closed here.
    func publisherClosed() async -> (any Error)?

    /// Closes the consuming side at once. Deliveries not yet settled go back to their queues; every
    /// consumer's next batch ends.
    func closeConsuming() async

    /// Closes everything.
    func close() async
}

/// A stage's consumer.
public protocol TaskConsumer: Sendable {
    /// The deliveries, a batch at a time.
    func batches() -> any TaskBatches

    /// Asks the broker for no more deliveries: those already sent are still handed out, then the
    /// batches end.
    func stop() async
}

/// Deliveries as they arrive, grouped as they arrived together.
public protocol TaskBatches {
    /// The next deliveries (at least one), nil once the consumer has stopped cleanly; throws when its
    /// connection or channel failed.
    mutating func next() async throws -> [any TaskDelivery]?
}

/// One message from a stage queue, settled exactly once: acknowledged, or handed back.
public protocol TaskDelivery: AnyObject, Sendable {
    var body: Data { get }

    /// Why the transport would not read the message (its body or headers were over the limits); it
    /// is dead-lettered as invalid, without its body.
    var refusalReason: String? { get }

    /// How many times the broker has handed this message back to its queue before, when it says so
    /// on a redelivery (a first delivery's count is the sender's word, and not trusted).
    var returnedCount: Int? { get }

    /// Whether the broker says it gave this message out before (a consumer's connection was lost with
    /// it unacknowledged, or it was handed back).
    var redelivered: Bool { get }

    /// False once the delivery can no longer be settled: its connection is gone, and the broker gives
    /// it to another consumer.
    var canSettle: Bool { get }

    func acknowledge() throws

    /// Hands the message back to its queue, for this or another worker.
    func requeue() throws
}

/// Publishes a batch of follow-ups (next stage, retry copy, dead letter), each with a confirm.
public protocol FollowUpPublisher: Sendable {
    /// One result per follow-up, in order: nil once the broker confirmed it, else why not.
    func publish(_ followUps: [TaskDecision.Publish]) async -> [(any Error)?]
}

/// What a failure says about the broker.
public enum ConnectionFault: Sendable, Hashable {
    /// Nothing answers, or the node is going down: a broker that may yet come.
    case brokerAbsent
    /// A connection or channel was lost, or the topology changed under us: connecting again fixes it.
    case lost
    /// A wrong password, an unknown vhost, a bad certificate, a conflicting queue: no waiting fixes it.
    case fatal
}
