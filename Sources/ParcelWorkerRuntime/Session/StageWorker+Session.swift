import Foundation
import Logging
import ParcelCore
import ServiceLifecycle
import Synchronization

extension StageWorker {
    /// One connected period: until shutdown (drains, closes, returns) or a connection failure (throws).
    func session(connected: () -> Void) async throws {
        let session = try await transport.connect(stages: configuration.stages, prefetch: configuration.concurrency)
        do {
            connected()
            try await serve(session)
        } catch {
            await session.close()
            throw error
        }
        await session.close()
    }

    /// Runs the consumers and the settling loop until they end: on shutdown, after the deliveries
    /// received have been run and settled; on a connection failure, at once (that error is thrown).
    private func serve(_ session: any WorkerSession) async throws {
        setPhase(.working)
        logger.info("working", metadata: ["stages": "\(configuration.stages.map(\.rawValue))",
                                          "concurrency": "\(configuration.concurrency)"])
        let slots = Slots(configuration.concurrency)
        let settling = Settling()
        let failure = FirstError()
        // The publisher's connection or channel is gone: end the session so that it reconnects.
        let publisherLost: @Sendable (any Error) async -> Void = { error in
            failure.record(error)
            await session.closeConsuming()
        }
        // Noticed by a publish, or by the connection closing while nothing is being published.
        let publisherWatch = Task {
            if let lost = await session.publisherClosed() { await publisherLost(lost) }
        }
        // A task of its own, so that the drain's deadline can cancel what still runs past it.
        let body = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await self.settle(from: settling, publisher: session.publisher, slots: slots, publisherLost: publisherLost)
                }
                await withTaskGroup(of: Void.self) { stages in
                    for (stage, consumer) in session.consumers {
                        stages.addTask {
                            do {
                                try await self.work(stage, consumer, slots: slots, settling: settling)
                            } catch {
                                failure.record(error)
                            }
                        }
                    }
                    // A consumer ended because the connection failed: stop the others so the session
                    // can reconnect. (On shutdown they end after `stop()`, from `drain`.)
                    for await _ in stages where failure.error != nil {
                        for (_, consumer) in session.consumers { await consumer.stop() }
                        await session.closeConsuming()
                    }
                }
                // Every delivery received has been begun and run; settle the last ones, then stop.
                settling.close()
            }
        }
        let drain = Drain(session: session, body: body, timeout: configuration.shutdownTimeout)
        await withTaskCancellationOrGracefulShutdownHandler {
            await body.value
        } onCancelOrGracefulShutdown: {
            self.setPhase(.stopping)
            self.logger.info("stopping: finishing the tasks in flight")
            drain.begin()
        }
        drain.end()
        publisherWatch.cancel()
        if let error = failure.error, !Task.isCancelled, !Task.isShuttingDownGracefully {
            setPhase(.reconnecting)
            throw error
        }
    }
}

/// A graceful stop of one session: no new deliveries; those already received are still handed out,
/// run and settled, their handlers never cancelled. Past the shutdown timeout, the consuming side
/// closes, whatever is unsettled goes back to its queue, and only then are handlers still running
/// cancelled, so that the worker can exit.
private final class Drain: Sendable {
    private let session: any WorkerSession
    private let body: Task<Void, Never>
    private let timeout: Duration
    private let tasks = Mutex<[Task<Void, Never>]>([])

    init(session: any WorkerSession, body: Task<Void, Never>, timeout: Duration) {
        self.session = session
        self.body = body
        self.timeout = timeout
    }

    func begin() {
        let session = session, body = body, timeout = timeout
        let stop = Task {
            for (_, consumer) in session.consumers { await consumer.stop() }
        }
        let deadline = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            await session.closeConsuming()
            body.cancel()
        }
        tasks.withLock { $0 += [stop, deadline] }
    }

    /// The session is over: the deadline has nothing left to cut short.
    func end() {
        for task in tasks.withLock({ $0 }) { task.cancel() }
    }
}
