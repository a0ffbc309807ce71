import AMQP
import Foundation
import ParcelTestSupport
import Testing

/// The broker the integration tests talk to: the one `deploy/local/test.sh` started (or found) and
/// exported as `PARCELFLOW_AMQP_URL`.
enum TestBroker {
    static let environment = ProcessInfo.processInfo.environment

    static var url: String { environment["PARCELFLOW_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5682/%2f" }

    static var endpoint: AMQPEndpoint { try! AMQPEndpoint.list(url)[0] }

    static func configuration(_ name: String = #function) -> AMQPConfiguration {
        try! AMQPConfiguration(url: url, connectionName: "test \(name)")
    }

    static func connect(_ name: String = #function) async throws -> AMQPConnection {
        try await AMQPConnection.connect(configuration(name))
    }

    /// A name no other test (or earlier run) uses.
    static func unique(_ prefix: String) -> String {
        "test.\(prefix).\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The repository's root, for the scripts under deploy/.
    static var root: URL { repositoryRoot }
}

extension AMQPOutboundMessage {
    static func text(_ text: String, to queue: String, properties: AMQPProperties = AMQPProperties(deliveryMode: 2)) -> AMQPOutboundMessage {
        AMQPOutboundMessage(routingKey: queue, body: Data(text.utf8), properties: properties)
    }
}
