import AMQP
import Foundation

/// The broker the integration tests talk to: the one `deploy/local/test.sh` started (or found) and
/// exported as `PARCELFLOW_AMQP_URL`.
public enum TestBroker {
    public static let environment = ProcessInfo.processInfo.environment

    public static var url: String { environment["PARCELFLOW_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5682/%2f" }

    public static var endpoint: AMQPEndpoint { try! AMQPEndpoint.list(url)[0] }

    public static func configuration(_ name: String = #function) -> AMQPConfiguration {
        try! AMQPConfiguration(url: url, connectionName: "test \(name)")
    }

    public static func connect(_ name: String = #function) async throws -> AMQPConnection {
        try await AMQPConnection.connect(configuration(name))
    }

    /// A name no other test (or earlier run) uses.
    public static func unique(_ prefix: String) -> String {
        "test.\(prefix).\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The repository's root, for the scripts under deploy/.
    public static var root: URL { repositoryRoot }
}
