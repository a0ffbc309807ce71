import CoreMetrics
import Hummingbird
import Logging
import NIOCore
import ParcelCore
import Prometheus

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
