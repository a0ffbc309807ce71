import AMQP
import ArgumentParser
import Foundation
import Logging
import ParcelCore

@main
struct ParcelWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parcel-worker",
        abstract: "Process parcel tasks from the stage queues.",
        discussion: """
            The stage processing itself is not built yet (see the workers issue). Today the worker \
            connects to the broker, reports what it found, and exits; --check makes that its whole job.
            """
    )

    @Option(help: ArgumentHelp("Broker URL, or several separated by commas.",
                               discussion: "Default: PARCELFLOW_AMQP_URL, else \(BrokerSettings.defaultURL).",
                               valueName: "amqp-url"))
    var url: String?

    @Flag(help: "Connect to the broker, print its version, and exit.")
    var check = false

    static func main() async {
        LogSetup.bootstrap(defaultLevel: .info, environment: ProcessInfo.processInfo.environment)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    func run() async throws {
        let url = BrokerSettings.url(flag: url, environment: ProcessInfo.processInfo.environment)
        let connection = try await AMQPConnection.connect(try AMQPConfiguration(url: url, connectionName: "parcel-worker"))
        print("connected to \(connection.endpoint) (RabbitMQ \(connection.brokerVersion ?? "unknown version"))")
        await connection.close()
        if !check {
            throw ValidationError("stage processing is not implemented yet; use --check to test the connection")
        }
    }
}
