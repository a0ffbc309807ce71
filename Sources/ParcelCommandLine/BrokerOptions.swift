import AMQP
import ArgumentParser
import Foundation
import ParcelCore

/// The options every command that talks to the broker shares.
public struct BrokerOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("url"),
            help: ArgumentHelp("Broker URL, or several separated by commas for a cluster.",
                               discussion: "Default: PARCELFLOW_AMQP_URL, else \(BrokerSettings.defaultURL).",
                               valueName: "amqp-url"))
    public var url: String?

    @Option(help: ArgumentHelp("Seconds to wait for a broker to answer when connecting.", valueName: "seconds"))
    public var connectTimeout: Double = 5

    public func configuration(name: String) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(
            url: BrokerSettings.url(flag: url, environment: ProcessInfo.processInfo.environment), connectionName: name)
        guard connectTimeout.isFinite, connectTimeout > 0, connectTimeout <= 3600 else {
            throw ValidationError("--connect-timeout must be more than 0 and at most 3,600 seconds")
        }
        configuration.connectTimeout = .seconds(connectTimeout)
        return configuration
    }
}

extension BrokerOptions {
    /// Connects, runs `body`, and closes the connection whatever happens. A queue or exchange the
    /// broker does not have (NOT_FOUND) means the namespace was never set up, and says so.
    public func withConnection<T: Sendable>(name: String, _ body: (AMQPConnection) async throws -> T) async throws -> T {
        let connection = try await AMQPConnection.connect(try configuration(name: name))
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch let error as AMQPError where error.isNotFound {
            await connection.close()
            throw CommandFailure("\(error.message): run `parcelctl setup` first (with the same --namespace)")
        } catch {
            await connection.close()
            throw error
        }
    }
}
