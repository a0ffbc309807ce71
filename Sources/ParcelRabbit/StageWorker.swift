import AMQP
import Foundation
import Logging
import ParcelCore
import ParcelWorkerRuntime
import Synchronization

/// Runs the stages: consumes the stage queues, lets ``TaskProcessor`` decide, publishes what it
/// decided with a confirm, and only then acknowledges. Reconnects when the broker goes away.
///
/// Two connections, as RabbitMQ advises: flow control on the publisher must not stall deliveries.
/// `concurrency` bounds the tasks in flight across all stages and is each consumer's prefetch.
public final class StageWorker: Sendable {
    public struct Configuration: Sendable {
        public var amqp: AMQPConfiguration
        public var topology: ParcelTopology
        public var stages: [Stage]
        public var concurrency: Int
        /// How long in-flight tasks may take to finish once shutdown begins.
        public var shutdownTimeout: Duration
        /// First and longest pause between reconnection attempts.
        public var reconnectDelay: ClosedRange<Duration>
        /// How long the first connection is retried while the broker cannot be reached (it may be
        /// starting, or restarting); a refused login or a conflicting queue fails at once.
        public var brokerWait: Duration
        /// How often the queues' depths and consumers are read for the metrics; nil: never.
        public var queueReadingInterval: Duration?
        /// A handler still running after this long has its task recorded as started on its own, so
        /// the parcel shows as processing; quicker ones are recorded as started with their outcome.
        public var recordStartedAfter: Duration
        /// First and longest pause between tries of a failing status store.
        public var storeRetryDelay: ClosedRange<Duration>
        /// Deliveries announced larger than this are dead-lettered as invalid without being read.
        public var maxBodySize: Int

        public init(amqp: AMQPConfiguration, topology: ParcelTopology, stages: [Stage] = Stage.allCases,
                    concurrency: Int = 16, shutdownTimeout: Duration = .seconds(30),
                    reconnectDelay: ClosedRange<Duration> = .milliseconds(200) ... .seconds(5), brokerWait: Duration = .zero,
                    queueReadingInterval: Duration? = nil, recordStartedAfter: Duration = .milliseconds(50),
                    storeRetryDelay: ClosedRange<Duration> = .milliseconds(100) ... .seconds(5),
                    maxBodySize: Int = AMQPLimits.defaultMaxBodySize) {
            self.amqp = amqp
            self.topology = topology
            self.stages = stages
            self.concurrency = max(1, concurrency)
            self.shutdownTimeout = shutdownTimeout
            self.reconnectDelay = reconnectDelay
            self.brokerWait = brokerWait
            self.queueReadingInterval = queueReadingInterval
            self.recordStartedAfter = recordStartedAfter
            self.storeRetryDelay = storeRetryDelay
            self.maxBodySize = maxBodySize
        }
    }

    /// Counts of what the worker did, by outcome (and reconnections), for logs and tests.
    public struct Counters: Sendable {
        public var outcomes: [TaskDecision.Outcome: Int] = [:]
        public var requeued = 0
        public var reconnects = 0
        /// Store operations that failed and were tried again.
        public var storeFailures = 0
    }

    let configuration: Configuration
    let processor: TaskProcessor
    let logger: Logger
    let metrics: ParcelMetrics.Worker
    private let counters = Mutex(Counters())
    private let ready = Mutex(false)

    /// Metrics go to the swift-metrics backend bootstrapped before this (none: they cost nothing).
    public init(configuration: Configuration, processor: TaskProcessor, logger: Logger = Logger(label: "parcelflow.worker")) {
        self.configuration = configuration
        self.processor = processor
        self.logger = logger
        metrics = ParcelMetrics.Worker()
    }

    public var counts: Counters { counters.withLock { $0 } }

    /// True while connected, with the topology declared and consumers running.
    public var isReady: Bool { ready.withLock { $0 } }

    /// Works until the calling task is cancelled, then stops consuming, lets in-flight tasks finish
    /// within the shutdown timeout, and returns. Connection losses are survived with reconnects. Before
    /// the first connection, an absent broker is waited for up to `brokerWait`; then, or for any other
    /// failure (a misconfiguration should not loop silently), the error is thrown.
    public func run() async throws {
        var delay = configuration.reconnectDelay.lowerBound
        var connectedOnce = false
        let waitUntil = ContinuousClock.now + configuration.brokerWait
        while !Task.isCancelled {
            do {
                try await session { connectedOnce = true; delay = self.configuration.reconnectDelay.lowerBound }
                return  // cancelled: the session drained and closed
            } catch let error as AMQPError where connectedOnce && Self.worthReconnecting(error) {
                setReady(false)
                counters.withLock { $0.reconnects += 1 }
                metrics.reconnected()
                logger.warning("lost the broker; reconnecting", metadata: ["error": "\(error)", "in": "\(delay)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, configuration.reconnectDelay.upperBound)
            } catch let error as AMQPError where !connectedOnce && Self.brokerAbsent(error) && ContinuousClock.now < waitUntil {
                let left = (waitUntil - ContinuousClock.now).components.seconds
                logger.warning("cannot reach the broker yet; trying again",
                               metadata: ["error": "\(error)", "in": "\(delay)", "giving up in": "\(left) s"])
                try? await Task.sleep(for: min(delay, max(.zero, waitUntil - ContinuousClock.now)))
                delay = min(delay * 2, configuration.reconnectDelay.upperBound)
            }
        }
    }

    /// Nothing answers, or the node is going down (CONNECTION_FORCED): a broker that may yet come — not
    /// a wrong password, an unknown vhost, a bad certificate or a conflicting queue, which no waiting fixes.
    static func brokerAbsent(_ error: AMQPError) -> Bool {
        [.connectionRefused, .unreachable, .timedOut, .connectionLost].contains(error.code)
            || (error.code == .connectionClosedByBroker && error.replyCode == 320)
    }

    /// The broker went away, or the topology changed under us (a queue deleted, an exchange missing):
    /// connecting again and re-declaring fixes both.
    static func worthReconnecting(_ error: AMQPError) -> Bool {
        error.isConnectionLevel || error.code == .channelClosedByBroker || error.code == .consumerCancelled
    }

    /// One connected period: until cancellation (drains, returns) or a connection failure (throws).
    private func session(connected: () -> Void) async throws {
        var consumerConfiguration = configuration.amqp
        consumerConfiguration.connectionName += " (consumer)"
        var publisherConfiguration = configuration.amqp
        publisherConfiguration.connectionName += " (publisher)"
        let consuming = try await AMQPConnection.connect(consumerConfiguration, logger: logger)
        let publishing: AMQPConnection
        do {
            publishing = try await AMQPConnection.connect(publisherConfiguration, logger: logger)
        } catch {
            await consuming.close()
            throw error
        }
        do {
            try await serve(consuming: consuming, publishing: publishing, connected: connected)
        } catch {
            await consuming.close()
            await publishing.close()
            throw error
        }
        await consuming.close()
        await publishing.close()
    }

    private func serve(consuming: AMQPConnection, publishing: AMQPConnection, connected: () -> Void) async throws {
        try await configuration.topology.declare(on: try await publishing.openChannel())
        let publisher = try await publishing.openChannel()
        try await publisher.enableConfirms()
        let channel = try await consuming.openChannel()
        try await channel.setPrefetch(UInt16(clamping: configuration.concurrency))
        var consumers: [(Stage, AMQPConsumer)] = []
        for stage in configuration.stages {
            consumers.append((stage, try await channel.consume(queue: configuration.topology.stageQueue(stage),
                                                               maxBodySize: configuration.maxBodySize)))
        }
        let started = consumers
        connected()
        setReady(true)
        let queueReadings = configuration.queueReadingInterval.map { interval in
            Task { await self.readQueues(on: publishing, every: interval) }
        }
        defer { queueReadings?.cancel() }
        logger.info("working", metadata: ["stages": "\(configuration.stages.map(\.rawValue))",
                                          "concurrency": "\(configuration.concurrency)"])

        let slots = Slots(configuration.concurrency)
        let settling = Settling()
        let failure = FirstError()
        // The publisher's connection or channel is gone: end the session so that it reconnects.
        let publisherLost: @Sendable (AMQPError) async -> Void = { error in
            failure.record(error)
            await consuming.close()
        }
        // Noticed by a publish, or by the connection closing while nothing is being published.
        Task {
            if let lost = await publishing.closed() { await publisherLost(lost) }
        }
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await self.settle(from: settling, publisher: publisher, slots: slots, publisherLost: publisherLost)
                }
                await withTaskGroup(of: Void.self) { stages in
                    for (stage, consumer) in started {
                        stages.addTask {
                            do throws(AMQPError) {
                                try await self.work(stage, consumer, slots: slots, settling: settling)
                            } catch {
                                failure.record(error)
                            }
                        }
                    }
                    // A consumer ended because the connection failed: stop the others so the session
                    // can reconnect. (On cancellation they end after `cancel()` below.)
                    for await _ in stages {
                        if failure.error != nil {
                            for (_, consumer) in started { try? await consumer.cancel() }
                            await consuming.close()
                        }
                    }
                }
                // Every delivery received has been begun and run; settle the last ones, then stop.
                settling.close()
            }
        } onCancel: {
            // Graceful shutdown: no new deliveries; those already received are still handed out,
            // processed and acknowledged; the group ends when they are done.
            Task {
                for (_, consumer) in started { try? await consumer.cancel() }
            }
            Task {
                try? await Task.sleep(for: self.configuration.shutdownTimeout)
                // Past the deadline: close; unacknowledged tasks go back to their queues.
                await consuming.close()
            }
        }
        setReady(false)
        if let error = failure.error, !Task.isCancelled { throw error }
    }

    private func setReady(_ isReady: Bool) {
        ready.withLock { $0 = isReady }
        metrics.setReady(isReady)
    }

    /// Reads the stage queues' and the dead-letter queue's depth and consumers into the metrics
    /// until cancelled. A failed reading is skipped: the session notices a lost connection itself.
    private func readQueues(on connection: AMQPConnection, every interval: Duration) async {
        var channel: AMQPChannel?
        while !Task.isCancelled {
            do {
                if channel == nil || channel?.closedReason != nil { channel = try await connection.openChannel() }
                if let channel, case .queues(let stages, let dead) = await configuration.topology.readQueues(on: channel) {
                    for (stage, reading) in stages {
                        metrics.queue(configuration.topology.stageQueue(stage), messages: reading.messages, consumers: reading.consumers)
                    }
                    metrics.queue(configuration.topology.deadQueue, messages: dead.messages, consumers: dead.consumers)
                }
            } catch {
                logger.debug("could not read the queues", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
        await channel?.close()
    }

    // MARK: - The life of a delivery
    //
    // Work is paid for per batch, not per message (docs/DESIGN.md §5): the deliveries that arrived together
    // are checked against the store in one read; each runs its handler as a task of its own, so a slow
    // one holds back nobody; whatever has finished by the time the settling loop comes round is
    // recorded (started and outcome) in one transaction, its follow-ups published in one go, and each
    // delivery acknowledged once its follow-up is confirmed. While one group waits for its confirms,
    // the next is recorded. Handlers of a batch still running after `recordStartedAfter` are recorded
    // as started in one transaction of their own.

    /// Takes a stage's deliveries until its consumer ends (cleanly: returns; the connection failed:
    /// throws), beginning each batch and starting its handlers. Returns once every handler is done.
    private func work(_ stage: Stage, _ consumer: AMQPConsumer, slots: Slots, settling: Settling) async throws(AMQPError) {
        let ended = await withDiscardingTaskGroup { handlers -> AMQPError? in
            var deliveries = consumer.makeAsyncIterator()
            do throws(AMQPError) {
                while let batch = try await deliveries.nextBatch() {
                    var start = 0
                    while start < batch.count {
                        // As many as there are free slots (at least one), so a batch never waits for
                        // slots that only its own tasks would free.
                        let granted = await slots.acquire(upTo: batch.count - start)
                        let part = batch[start ..< start + granted]
                        start += granted
                        let received = ContinuousClock.now
                        var running: [(AMQPDelivery, TaskProcessor.Started)] = []
                        for (delivery, begun) in await begin(part, stage: stage, slots: slots) {
                            switch begun {
                            case .decided(let decision):
                                settling.add(Settling.Item(delivery: delivery, stage: stage, received: received,
                                                           step: .decided(decision)))
                            case .run(let started):
                                running.append((delivery, started))
                            }
                        }
                        guard !running.isEmpty else { continue }
                        let unfinished = Unfinished(running.map(\.1))
                        for (index, (delivery, started)) in running.enumerated() {
                            handlers.addTask {
                                let result = await self.processor.run(started.task)
                                await unfinished.finished(index)
                                settling.add(Settling.Item(
                                    delivery: delivery, stage: stage, received: received,
                                    step: .ran(TaskProcessor.Ran(started, body: delivery.body, result: result))))
                            }
                        }
                        handlers.addTask { await self.recordStarted(unfinished) }
                    }
                }
                return nil
            } catch {
                return error
            }
        }
        if let ended { throw ended }
    }

    /// Checks the deliveries against the store, in one read. While the store fails they are held,
    /// unacknowledged, and the store is tried again (``untilStoreAnswers(_:tasks:_:)``); if the
    /// session ends meanwhile, none is returned and the broker gives them to another consumer.
    private func begin(_ deliveries: ArraySlice<AMQPDelivery>, stage: Stage, slots: Slots) async
        -> [(AMQPDelivery, TaskProcessor.Begun)]
    {
        metrics.started(stage, count: deliveries.count)
        var regular: [AMQPDelivery] = []
        var refused: [(AMQPDelivery, TaskProcessor.Begun)] = []
        var quarantined: [(delivery: AMQPDelivery, deliveries: Int)] = []
        for delivery in deliveries {
            if let refusal = delivery.refusal {
                refused.append((delivery, .decided(Self.refused(delivery, refusal, stage: stage))))
            } else if let returned = Self.returnedCount(delivery, limit: configuration.topology.deliveryLimit),
                returned >= configuration.topology.deliveryLimit {
                // On the last delivery the queue's limit allows, the task is quarantined instead of run.
                quarantined.append((delivery, returned + 1))
            } else {
                regular.append(delivery)
            }
        }
        let checked = await untilStoreAnswers(stage, tasks: Array(deliveries)) { () async throws -> [(AMQPDelivery, TaskProcessor.Begun)] in
            var begun: [(AMQPDelivery, TaskProcessor.Begun)] = []
            for (delivery, count) in quarantined {
                begun.append((delivery, .decided(try await self.processor.quarantine(
                    body: delivery.body, queueStage: stage, deliveries: count))))
            }
            let started = try await self.processor.begin(regular.map { TaskProcessor.Arrival(body: $0.body, queueStage: stage) })
            return begun + zip(regular, started).map { ($0, $1) }
        }
        guard let checked else {
            for delivery in quarantined.map(\.delivery) + regular { requeue(delivery, stage: stage) }
            slots.release(deliveries.count - refused.count)
            return refused
        }
        return refused + checked
    }

    /// How many times the broker returned this delivery to its queue, from the quorum queue's
    /// `x-delivery-count`, clamped to `0...limit`. Only on a redelivery: anyone who can publish can
    /// write that header on a first delivery.
    static func returnedCount(_ delivery: AMQPDelivery, limit: Int) -> Int? {
        returnedCount(redelivered: delivery.redelivered, header: delivery.headers["x-delivery-count"], limit: limit)
    }

    package static func returnedCount(redelivered: Bool, header: AMQPFieldValue?, limit: Int) -> Int? {
        guard redelivered, let count = header?.intValue else { return nil }
        return min(max(count, 0), limit)
    }

    /// A delivery the AMQP layer refused (its body or headers were over the limits): dead-lettered as
    /// invalid through a small copy that carries no body.
    static func refused(_ delivery: AMQPDelivery, _ refusal: AMQPDelivery.Refusal, stage: Stage) -> TaskDecision {
        TaskDecision(outcome: .deadLettered, publish: .deadLetter(DeadLetter(
            body: Data(), stage: stage, parcelID: nil, attempts: 0, kind: .invalid, reason: refusal.description)))
    }

    /// Runs a store operation for `tasks` until it succeeds. A failing store is waited out with the
    /// deliveries held unacknowledged: requeueing them would count against each queue's delivery limit
    /// and turn an outage into poison. Nil when the deliveries can no longer be settled (the session
    /// ended: the broker hands them to another consumer), so there is nothing left to do for them.
    private func untilStoreAnswers<T>(_ stage: Stage?, tasks: [AMQPDelivery],
                                      _ operation: () async throws -> T) async -> T? {
        var delay = configuration.storeRetryDelay.lowerBound
        var failures = 0
        while true {
            do {
                let result = try await operation()
                if failures > 0 {
                    logger.warning("the status store answers again", metadata: [
                        "stage": "\(stage?.rawValue ?? "all")", "tasks": "\(tasks.count)", "failures": "\(failures)"])
                }
                return result
            } catch {
                failures += 1
                if tasks.contains(where: { $0.settleFailure != nil }) { return nil }
                if failures == 1 || failures.isMultiple(of: 10) {
                    logger.error("status store error; holding the tasks and trying again", metadata: [
                        "stage": "\(stage?.rawValue ?? "all")", "tasks": "\(tasks.count)", "error": "\(error)",
                        "failures": "\(failures)", "in": "\(delay)"])
                }
                metrics.storeFailed()
                counters.withLock { $0.storeFailures += 1 }
                // Not cut short by a graceful shutdown, which waits for these tasks.
                await Self.pause(for: delay)
                delay = min(delay * 2, configuration.storeRetryDelay.upperBound)
            }
        }
    }

    /// Sleeps for `duration` even when the calling task is cancelled.
    static func pause(for duration: Duration) async {
        await Task.detached { try? await Task.sleep(for: duration) }.value
    }

    /// Once `recordStartedAfter` has passed (or the worker is stopping), records the tasks whose
    /// handlers are still running as started. A store failure is only logged: their outcome records it.
    private func recordStarted(_ unfinished: Unfinished) async {
        if unfinished.allFinished { return }
        try? await Task.sleep(for: configuration.recordStartedAfter)
        await unfinished.recordRunning { running in
            do {
                try await self.processor.recordStarted(running)
            } catch {
                self.logger.warning("could not record running tasks as started",
                                    metadata: ["tasks": "\(running.count)", "error": "\(error)"])
            }
        }
    }

    /// Settles what has finished, a group at a time, until `settling` is closed and empty. Calls
    /// `publisherLost` as soon as a publish finds the publisher's connection gone.
    private func settle(from settling: Settling, publisher: AMQPChannel, slots: Slots,
                        publisherLost: @escaping @Sendable (AMQPError) async -> Void) async {
        await withDiscardingTaskGroup { confirming in
            while let items = await settling.next() {
                let decisions = await finish(items)
                confirming.addTask {
                    if let lost = await self.publishAndAcknowledge(items, decisions, publisher: publisher) {
                        await publisherLost(lost)
                    }
                    slots.release(items.count)
                }
            }
        }
    }

    /// What each item leads to: the handlers' outcomes recorded in one transaction, tried until the
    /// store answers. Nil for items whose deliveries can no longer be settled.
    private func finish(_ items: [Settling.Item]) async -> [TaskDecision?] {
        let ran = items.compactMap { item -> TaskProcessor.Ran? in
            if case .ran(let ran) = item.step { ran } else { nil }
        }
        var finished: [TaskDecision]?
        if !ran.isEmpty {
            let deliveries = items.compactMap { item -> AMQPDelivery? in
                if case .ran = item.step { item.delivery } else { nil }
            }
            finished = await untilStoreAnswers(nil, tasks: deliveries) { try await self.processor.finish(ran) }
        }
        var next = 0
        return items.map { item in
            switch item.step {
            case .decided(let decision):
                return decision
            case .ran:
                defer { next += 1 }
                return finished?[next]
            }
        }
    }

    /// Publishes the follow-ups in one go and acknowledges each delivery whose follow-up the broker
    /// confirmed (or that has none); the others go back to their queue. Returns the error if the
    /// publisher's connection failed.
    private func publishAndAcknowledge(_ items: [Settling.Item], _ decisions: [TaskDecision?],
                                       publisher: AMQPChannel) async -> AMQPError? {
        var messages: [AMQPOutboundMessage] = []
        var messageOf: [Int?] = []
        for decision in decisions {
            if let publish = decision?.publish {
                messageOf.append(messages.count)
                messages.append(message(for: publish))
            } else {
                messageOf.append(nil)
            }
        }
        let published = messages.isEmpty ? [] : await publisher.publish(contentsOf: messages)
        var lost: AMQPError?
        for (index, item) in items.enumerated() {
            guard let decision = decisions[index] else {
                requeue(item.delivery, stage: item.stage)
                continue
            }
            if let position = messageOf[index], let error = published[position] {
                logger.warning("could not publish a task's follow-up; it goes back to its queue",
                               metadata: ["stage": "\(item.stage)", "error": "\(error)"])
                requeue(item.delivery, stage: item.stage)
                if Self.worthReconnecting(error) { lost = lost ?? error }
                continue
            }
            do {
                try item.delivery.ack()
                counters.withLock { $0.outcomes[decision.outcome, default: 0] += 1 }
                metrics.settled(item.stage, decision.outcome, after: ContinuousClock.now - item.received,
                                submittedAt: decision.submittedAt)
            } catch {
                logger.warning("could not acknowledge; the broker will redeliver", metadata: ["error": "\(error)"])
                metrics.requeued(item.stage)
            }
        }
        return lost
    }

    private func requeue(_ delivery: AMQPDelivery, stage: Stage) {
        counters.withLock { $0.requeued += 1 }
        metrics.requeued(stage)
        try? delivery.nack(requeue: true)
    }

    func message(for publish: TaskDecision.Publish) -> AMQPOutboundMessage {
        let topology = configuration.topology
        switch publish {
        case .next(let task):
            return topology.stageTask(task)
        case .retry(let task, let delay, let expiration):
            var properties = AMQPProperties.persistentJSON(messageID: task.taskID, correlationID: task.parcelID)
            properties.expiration = String(max(1, expiration.wholeMilliseconds))
            return AMQPOutboundMessage(exchange: topology.retryExchange, routingKey: topology.retryQueue(task.stage, delay: delay),
                                       body: task.encoded(), properties: properties, mandatory: true)
        case .deadLetter(let letter):
            var headers: AMQPTable = [
                DeadLetter.Header.attempts: .int64(Int64(letter.attempts)),
                DeadLetter.Header.kind: .string(letter.kind.rawValue),
                DeadLetter.Header.reason: .string(letter.reason),
            ]
            if let stage = letter.stage { headers[DeadLetter.Header.stage] = .string(stage.rawValue) }
            return AMQPOutboundMessage(
                exchange: topology.deadExchange, routingKey: letter.stage?.rawValue ?? "", body: letter.body,
                properties: .persistentJSON(
                    messageID: letter.parcelID.flatMap { id in letter.stage.map { TaskEnvelope.taskID(parcelID: id, stage: $0) } },
                    correlationID: letter.parcelID, headers: headers),
                mandatory: true)
        }
    }
}

/// A batch's tasks while their handlers run, and the one "started" write for those that take long.
///
/// That write must reach the store before any of its tasks' outcomes: a "started" arriving after a
/// "retrying" would move the parcel back to processing. So a handler that returns while the write
/// for its task is under way waits for it before its outcome goes to be settled.
final class Unfinished: Sendable {
    private struct State {
        var finished: [Bool]
        var finishedCount = 0
        /// Tasks in the "started" write.
        var inWrite: [Bool]
        var write: Task<Void, Never>?
    }

    private let tasks: [TaskProcessor.Started]
    private let state: Mutex<State>

    init(_ tasks: [TaskProcessor.Started]) {
        self.tasks = tasks
        state = Mutex(State(finished: Array(repeating: false, count: tasks.count),
                            inWrite: Array(repeating: false, count: tasks.count)))
    }

    var allFinished: Bool { state.withLock { $0.finishedCount == tasks.count } }

    /// Task `index`'s handler has returned; waits for a "started" write that holds it.
    func finished(_ index: Int) async {
        let write = state.withLock { state -> Task<Void, Never>? in
            state.finished[index] = true
            state.finishedCount += 1
            return state.inWrite[index] ? state.write : nil
        }
        await write?.value
    }

    /// Writes the tasks still running with `record`, and waits for it; nothing when all have finished.
    func recordRunning(_ record: @escaping @Sendable ([TaskProcessor.Started]) async -> Void) async {
        let write = state.withLock { state -> Task<Void, Never>? in
            let running = tasks.indices.filter { !state.finished[$0] }
            guard !running.isEmpty else { return nil }
            for index in running { state.inWrite[index] = true }
            let started = running.map { tasks[$0] }
            // Made under the lock, so a handler returning now already finds it.
            state.write = Task { await record(started) }
            return state.write
        }
        await write?.value
    }
}

/// The first error any of several tasks reports.
final class FirstError: Sendable {
    private let slot = Mutex<AMQPError?>(nil)

    func record(_ error: AMQPError) { slot.withLock { if $0 == nil { $0 = error } } }

    var error: AMQPError? { slot.withLock { $0 } }
}

/// Deliveries whose handlers are done (or that needed none), waiting to be settled; the settling
/// loop takes everything gathered so far at once.
final class Settling: Sendable {
    /// A class, for the same reason as ``AMQPDelivery``: it moves through several arrays on its way.
    final class Item: Sendable {
        enum Step: Sendable {
            case decided(TaskDecision)
            case ran(TaskProcessor.Ran)
        }

        let delivery: AMQPDelivery
        let stage: Stage
        let received: ContinuousClock.Instant
        let step: Step

        init(delivery: AMQPDelivery, stage: Stage, received: ContinuousClock.Instant, step: Step) {
            self.delivery = delivery
            self.stage = stage
            self.received = received
            self.step = step
        }
    }

    private struct State {
        var items: [Item] = []
        var waiter: CheckedContinuation<[Item]?, Never>?
        var closed = false
    }

    private let state = Mutex(State())

    func add(_ item: Item) {
        let handOver = state.withLock { state -> (CheckedContinuation<[Item]?, Never>, [Item])? in
            state.items.append(item)
            guard let waiter = state.waiter.take() else { return nil }
            defer { state.items = [] }
            return (waiter, state.items)
        }
        if let (waiter, items) = handOver { waiter.resume(returning: items) }
    }

    /// No more items will come: `next()` returns nil once the gathered ones are taken.
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<[Item]?, Never>? in
            state.closed = true
            return state.waiter.take()
        }
        waiter?.resume(returning: nil)
    }

    /// Everything gathered so far (at least one item), or nil once closed and empty.
    func next() async -> [Item]? {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> [Item]?? in
                if !state.items.isEmpty {
                    defer { state.items = [] }
                    return .some(state.items)
                }
                if state.closed { return .some(nil) }
                state.waiter = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}

/// A counting semaphore for tasks: at most `count` holders at once.
final class Slots: Sendable {
    private struct State {
        var available: Int
        var waiters: [(wanted: Int, continuation: CheckedContinuation<Int, Never>)] = []
    }

    private let state: Mutex<State>

    init(_ count: Int) {
        state = Mutex(State(available: count))
    }

    /// Takes up to `wanted` slots, at least one, waiting until one is free; returns how many it took.
    func acquire(upTo wanted: Int) async -> Int {
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state -> Int in
                guard state.available > 0, state.waiters.isEmpty else {
                    state.waiters.append((max(1, wanted), continuation))
                    return 0
                }
                let granted = min(state.available, max(1, wanted))
                state.available -= granted
                return granted
            }
            if granted > 0 { continuation.resume(returning: granted) }
        }
    }

    func release(_ count: Int) {
        let woken = state.withLock { state -> [(Int, CheckedContinuation<Int, Never>)] in
            state.available += count
            var woken: [(Int, CheckedContinuation<Int, Never>)] = []
            while state.available > 0, !state.waiters.isEmpty {
                let waiter = state.waiters.removeFirst()
                let granted = min(state.available, waiter.wanted)
                state.available -= granted
                woken.append((granted, waiter.continuation))
            }
            return woken
        }
        for (granted, continuation) in woken { continuation.resume(returning: granted) }
    }
}
