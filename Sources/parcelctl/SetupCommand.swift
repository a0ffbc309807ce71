import AMQP
import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore
import ParcelRabbit

struct SetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Create ParcelFlow's exchanges and queues on the broker (safe to repeat).",
        discussion: """
            Declares the task exchange, one quorum queue per stage, the retry delay queues and the \
            dead-letter queue. Running it again changes nothing. If a queue already exists with other \
            settings, the broker refuses and says which argument differs.
            """
    )

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var topologyOptions: TopologyOptions

    @Flag(help: "Print the topology in RabbitMQ's definitions format instead of declaring it.")
    var printDefinitions = false

    func run() async throws {
        let topology = try topologyOptions.topology()
        if printDefinitions {
            print(topology.definitionsJSON(), terminator: "")
            return
        }
        let endpoint = try await broker.withConnection(name: "parcelctl setup") { connection in
            try await topology.declare(on: try await connection.openChannel())
            return connection.endpoint
        }
        print("Ready: \(Terminal.plural(topology.exchanges.count, "exchange")), \(Terminal.plural(topology.queues.count, "queue")) "
            + "and \(Terminal.plural(topology.bindings.count, "binding")) on \(endpoint).")
    }
}

struct TeardownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teardown",
        abstract: "Delete a namespace's exchanges and queues, with every message in them.",
        discussion: "For demos and test namespaces. It destroys parcels' tasks, so it asks for --yes.",
        shouldDisplay: false)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var topologyOptions: TopologyOptions

    @Flag(help: "Yes, delete them and their messages.")
    var yes = false

    func run() async throws {
        let topology = try topologyOptions.topology()
        guard yes else {
            throw ValidationError("this deletes every queue of namespace '\(topology.namespace)' and its messages; add --yes")
        }
        try await broker.withConnection(name: "parcelctl teardown") { try await topology.delete(on: try await $0.openChannel()) }
        print("Deleted the exchanges and queues of namespace '\(topology.namespace)'.")
    }
}
