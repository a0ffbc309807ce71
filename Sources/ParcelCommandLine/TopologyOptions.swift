import ArgumentParser
import Foundation
import ParcelCore
import ParcelRabbit

/// The topology settings `setup` and the workers must agree on.
public struct TopologyOptions: ParsableArguments {
    public init() {}

    @Option(help: ArgumentHelp(
        "The first part of every exchange and queue name.",
        discussion: "Default: PARCELFLOW_NAMESPACE, else parcelflow. Tests use their own to share a broker.",
        valueName: "name"))
    public var namespace: String?

    @Option(help: ArgumentHelp("Deliveries of one message before the broker dead-letters it as poison.",
                               valueName: "count"))
    public var deliveryLimit = 5

    @Option(help: ArgumentHelp(
        "Retry delay tiers, shortest first.",
        discussion: "Default: PARCELFLOW_RETRY_DELAYS, else 1s,5s,30s,2m,10m. Units: ms, s, m, h.",
        valueName: "delays"))
    public var retryDelays: String?

    public func topology() throws -> ParcelTopology {
        let text = retryDelays ?? ProcessInfo.processInfo.environment["PARCELFLOW_RETRY_DELAYS"]
        var delays = ParcelTopology.defaultRetryDelays
        if let text {
            guard let parsed = ParcelTopology.parseDelays(text) else {
                throw ValidationError("--retry-delays '\(Echo.value(text))': give delays such as 250ms,1s,30s,2m, each at most 168h")
            }
            delays = parsed
        }
        guard deliveryLimit >= 1 else { throw ValidationError("--delivery-limit must be 1 or more") }
        let namespace = self.namespace ?? ProcessInfo.processInfo.environment["PARCELFLOW_NAMESPACE"]
            ?? ParcelTopology.defaultNamespace
        guard !namespace.isEmpty, namespace.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) else {
            throw ValidationError("--namespace may hold letters, digits, '.', '_' and '-'")
        }
        return ParcelTopology(namespace: namespace, deliveryLimit: deliveryLimit, retryDelays: delays)
    }
}
