import AMQP
import Foundation
import Logging
import Synchronization

/// What the recovery probe needs of a publisher: AMQP's confirmed publishing, and a close. A plain
/// channel on a connection of its own is one (``ChannelPublisher``); a `ReconnectingPublisher` is
/// another.
public protocol ConfirmedPublisher: ConfirmedPublishing {
    /// Ends the publisher; publishes still waiting for their confirm end with an error.
    func close() async
}

extension ReconnectingPublisher: ConfirmedPublisher {}

/// Opens a ``ConfirmedPublisher`` for a configuration (its endpoints in the order to try them).
public typealias ConfirmedPublisherFactory = @Sendable (AMQPConfiguration) async throws -> any ConfirmedPublisher

/// A channel in confirm mode on a connection of its own.
public struct ChannelPublisher: ConfirmedPublisher {
    let connection: AMQPConnection
    let channel: AMQPChannel

    /// Connects to the first endpoint of `configuration` that accepts, and turns confirms on. The
    /// connection logs errors only: the probe is there to lose it.
    public static func open(_ configuration: AMQPConfiguration) async throws -> any ConfirmedPublisher {
        var logger = Logger(label: "parcelflow.loadtest.probe")
        logger.logLevel = .error
        let connection = try await AMQPConnection.connect(configuration, logger: logger)
        do {
            let channel = try await connection.openChannel()
            try await channel.enableConfirms()
            return ChannelPublisher(connection: connection, channel: channel)
        } catch {
            await connection.close()
            throw error
        }
    }

    public func publish(contentsOf messages: [AMQPOutboundMessage]) async -> [AMQPError?] {
        await channel.publish(contentsOf: messages)
    }

    public func close() async { await connection.close() }
}

/// How long losing a node stops confirmed publishing.
///
/// A publisher of the probe's own sends a small persistent message every `interval` to a quorum queue
/// whose leader is on the node about to be stopped (declared with `x-queue-leader-locator:
/// client-local` over a connection to that node), reaching that node first, so the probe loses both
/// its connection and its queue's leader, as a client of that node would. It notes when each message
/// is confirmed; when a publish fails or waits past `publishTimeout` it reconnects, trying the next
/// node first, and goes on. The pause a stop caused is ``longestPause(_:from:to:)``.
final class RecoveryProbe: Sendable {
    private struct State {
        /// Where to publish, and the endpoints in the order to try them; `generation` counts changes.
        var queue: String?
        var endpoints: [AMQPEndpoint] = []
        var generation = 0
        var confirmedGeneration = 0
        var confirms: [ContinuousClock.Instant] = []
        var queues: [String] = []
    }

    let configuration: AMQPConfiguration
    let namespace: String
    let open: ConfirmedPublisherFactory
    let interval: Duration
    let publishTimeout: Duration
    private let state = Mutex(State())

    init(configuration: AMQPConfiguration, namespace: String, open: @escaping ConfirmedPublisherFactory = ChannelPublisher.open,
         interval: Duration = .milliseconds(20), publishTimeout: Duration = .seconds(5)) {
        var configuration = configuration
        configuration.connectionName = "parcelctl loadtest probe"
        // A node on its way down may take a connection and never answer: move on quickly.
        configuration.connectTimeout = .seconds(1)
        configuration.heartbeat = .seconds(2)
        // The probe chooses the order itself (the node to be stopped first): no rotation.
        configuration.endpointSelection = .inOrder
        self.configuration = configuration
        self.namespace = namespace
        self.open = open
        self.interval = interval
        self.publishTimeout = publishTimeout
    }

    /// Moves the probe to a new queue led by endpoint `index`'s node, reached first; returns once a
    /// message there was confirmed.
    func aim(at index: Int, timeout: Duration = .seconds(20)) async throws {
        let endpoints = Array(configuration.endpoints[index...] + configuration.endpoints[..<index])
        let queue = state.withLock { "\(namespace).probe.\($0.queues.count + 1)" }
        var direct = configuration
        direct.endpoints = [endpoints[0]]
        let connection = try await AMQPConnection.connect(direct)
        do {
            let channel = try await connection.openChannel()
            _ = try await channel.declareQueue(queue, options: AMQPQueueOptions(
                type: .quorum, maxLength: 1000, extraArguments: ["x-queue-leader-locator": "client-local"]))
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        let generation = state.withLock { state in
            state.queues.append(queue)
            state.queue = queue
            state.endpoints = endpoints
            state.generation += 1
            return state.generation
        }
        let deadline = ContinuousClock.now + timeout
        while state.withLock({ $0.confirmedGeneration }) < generation {
            guard ContinuousClock.now < deadline else {
                throw LoadTestError("the probe had no confirm from \(queue) within \(timeout)")
            }
            try await Task.sleep(for: interval)
        }
    }

    /// Publishes until cancelled.
    func run() async {
        var sending = Publishing()
        while !Task.isCancelled {
            let began = ContinuousClock.now
            await publishOne(&sending)
            try? await Task.sleep(until: began + interval)
        }
        await sending.publisher?.close()
    }

    /// The probe's publisher, the queue generation it publishes for, and how many endpoints to skip
    /// when it next connects (one more after each failure: the next node is tried first).
    private struct Publishing {
        var publisher: (any ConfirmedPublisher)?
        var generation = 0
        var skip = 0
        var sequence = 0
    }

    private func publishOne(_ sending: inout Publishing) async {
        let (queue, endpoints, generation) = state.withLock { ($0.queue, $0.endpoints, $0.generation) }
        guard let queue else { return }
        if generation != sending.generation {
            await sending.publisher?.close()
            sending = Publishing(generation: generation, sequence: sending.sequence)
        }
        if sending.publisher == nil {
            let first = sending.skip % endpoints.count
            var settings = configuration
            settings.endpoints = Array(endpoints[first...] + endpoints[..<first])
            sending.publisher = try? await open(settings)
        }
        guard let publisher = sending.publisher else {
            sending.skip += 1
            return
        }
        sending.sequence += 1
        let message = AMQPOutboundMessage(routingKey: queue, body: Data("{\"probe\":\(sending.sequence)}".utf8),
                                          properties: AMQPProperties(deliveryMode: 2), mandatory: true)
        if await confirmed(message, by: publisher) {
            let now = ContinuousClock.now
            state.withLock { state in
                state.confirms.append(now)
                state.confirmedGeneration = max(state.confirmedGeneration, generation)
            }
        } else {
            // Closed aside: a connection to a node on its way down may be slow to close.
            sending.publisher = nil
            sending.skip += 1
            Task.detached { await publisher.close() }
        }
    }

    /// Whether `message` was confirmed within `publishTimeout` (a publish still waiting then is left
    /// to fail when its publisher closes).
    private func confirmed(_ message: AMQPOutboundMessage, by publisher: any ConfirmedPublisher) async -> Bool {
        await withCheckedContinuation { continuation in
            let outcome = Once(continuation)
            let timer = Task { [publishTimeout] in
                guard (try? await Task.sleep(for: publishTimeout)) != nil else { return }
                outcome.resume(false)
            }
            Task {
                let errors = await publisher.publish(contentsOf: [message])
                timer.cancel()
                outcome.resume(errors.count == 1 && errors[0] == nil)
            }
        }
    }

    /// A continuation resumed by whichever comes first: the confirm or the timeout.
    private final class Once: Sendable {
        private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

        init(_ continuation: CheckedContinuation<Bool, Never>) { self.continuation = Mutex(continuation) }

        func resume(_ value: Bool) {
            continuation.withLock { continuation -> CheckedContinuation<Bool, Never>? in
                defer { continuation = nil }
                return continuation
            }?.resume(returning: value)
        }
    }

    /// Every confirm so far, in order.
    var confirms: [ContinuousClock.Instant] { state.withLock { $0.confirms } }

    /// Deletes the probe's queues.
    func deleteQueues() async {
        let queues = state.withLock { $0.queues }
        guard !queues.isEmpty, let connection = try? await AMQPConnection.connect(configuration) else { return }
        if let channel = try? await connection.openChannel() {
            for queue in queues { _ = try? await channel.deleteQueue(queue) }
        }
        await connection.close()
    }

    /// The longest time between two consecutive confirms that overlaps `from...to` (a node's stop,
    /// from the command's start to the node's exit): from the last confirm before the loss to the
    /// first after. Nil when there was no confirm before `from`, or none after `to` (no recovery).
    static func longestPause(_ confirms: [ContinuousClock.Instant], from: ContinuousClock.Instant,
                             to: ContinuousClock.Instant) -> Duration? {
        guard let first = confirms.first, first < from, let last = confirms.last, last > to else { return nil }
        return zip(confirms, confirms.dropFirst())
            .filter { earlier, later in earlier < to && later > from }
            .map { earlier, later in later - earlier }
            .max()
    }

    /// The median time between consecutive confirms: the probe's usual cadence, against which a
    /// pause reads.
    static func usualGap(_ confirms: [ContinuousClock.Instant]) -> Duration? {
        let gaps = zip(confirms, confirms.dropFirst()).map { $1 - $0 }.sorted()
        return gaps.isEmpty ? nil : gaps[gaps.count / 2]
    }
}
