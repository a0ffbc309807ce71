import AMQP
import Foundation
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
    static var root: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }
}

extension AMQPOutboundMessage {
    static func text(_ text: String, to queue: String, properties: AMQPProperties = AMQPProperties(deliveryMode: 2)) -> AMQPOutboundMessage {
        AMQPOutboundMessage(routingKey: queue, body: Data(text.utf8), properties: properties)
    }
}

/// Waits for `condition` to hold, polling, up to `timeout`.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
