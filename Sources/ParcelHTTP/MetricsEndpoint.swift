import CoreMetrics
import Hummingbird
import Logging
import NIOCore
import ParcelCore
import Prometheus
import Synchronization

/// A worker's HTTP face for ops: `/metrics` (Prometheus text format), `/health` (the process is up)
/// and `/ready` (connected to the broker, topology declared, consuming).
public struct MetricsEndpoint: Sendable {
    public let address: HTTPAddress
    let registry: PrometheusCollectorRegistry
    let isReady: @Sendable () -> Bool

    /// Bootstraps swift-metrics with a Prometheus registry — once per process, before any metric is
    /// made — and returns the endpoint that shows it.
    public static func bootstrap(at address: HTTPAddress, isReady: @escaping @Sendable () -> Bool) -> MetricsEndpoint {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        MetricsSystem.bootstrap(factory)
        return MetricsEndpoint(address: address, registry: registry, isReady: isReady)
    }

    /// From 1 ms (a task with nothing to do) to 5 minutes (a parcel through four stages with retries).
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(120), .seconds(300),
    ]

    /// Serves until the calling task is cancelled.
    public func run(logger: Logger, listening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let router = Router()
        router.get("/metrics") { _, _ in
            Response.text(exposition(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/health") { _, _ in Response.text("ok\n") }
        router.get("/ready") { _, _ in
            isReady() ? Response.text("ready\n") : Response.text("not ready: not connected to the broker\n", status: .serviceUnavailable)
        }
        try await serve(router, at: address, logger: logger, listening: listening)
    }

    /// Starts serving in a task of its own and returns once it listens: the port taken, and the task
    /// (cancel it to stop). Throws when it cannot listen — a port in use, say — so a worker asked for
    /// metrics never runs unobserved.
    public func start(logger: Logger) async throws -> (port: Int, serving: Task<Void, Never>) {
        let outcome = OneShot<Int>()
        let serving = Task {
            do {
                try await run(logger: logger) { port in outcome.resolve(.success(port)) }
                outcome.resolve(.failure(CancellationError()))
            } catch {
                outcome.resolve(.failure(error))
                logger.error("the metrics endpoint stopped", metadata: ["error": "\(error)"])
            }
        }
        do {
            return (try await outcome.value, serving)
        } catch {
            serving.cancel()
            throw error
        }
    }

    /// The registry's text with a `# HELP` line before each of our metrics' `# TYPE` line.
    func exposition() -> String {
        Self.withHelp(registry.emitToString())
    }

    static let help: [String: String] = Dictionary(uniqueKeysWithValues: ParcelMetrics.catalogue.map { ($0.name, $0.help) })

    static func withHelp(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 2048)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first, let help = help[String(name)] {
                out += "# HELP \(name) \(help)\n"
            }
            out += line
            out += "\n"
        }
        if out.hasSuffix("\n\n") { out.removeLast() }
        return out
    }
}

/// A value that arrives once, awaited by one caller.
final class OneShot<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiter: CheckedContinuation<Value, any Error>?
    }

    private let state = Mutex(State())

    /// The first result wins; later ones are ignored.
    func resolve(_ result: Result<Value, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { state -> Result<Value, any Error>? in
                    if state.result == nil { state.waiter = continuation }
                    return state.result
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }
}
