import AMQP
import ArgumentParser
import Foundation
import ParcelBench
import ParcelCommandLine

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure how fast ParcelFlow talks to the broker.",
        subcommands: [AMQPBench.self]
    )
}

struct AMQPBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amqp",
        abstract: "Publish with confirms, then consume with acks, and report messages per second.",
        discussion: """
            Each run publishes --messages persistent 300-byte messages to the durable queue \
            parcelflow.bench.amqp with pipelined publisher confirms, then consumes them with one manual \
            ack per message at prefetch 100. The figures are the medians of --runs runs. The queue is \
            deleted at the end.
            """
    )

    @OptionGroup var broker: BrokerOptions

    @Option(help: "Messages per run.")
    var messages = 8_000

    @Option(help: "Number of runs; the report gives their medians.")
    var runs = 5

    @Option(help: ArgumentHelp("Unconfirmed messages allowed in flight while publishing.", valueName: "messages"))
    var window = 2_000

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() async throws {
        var options = AMQPBenchmark.Options(configuration: try broker.configuration(name: "parcelctl bench amqp"))
        options.messages = messages
        options.runs = runs
        options.window = window
        let json = self.json
        let report = try await AMQPBenchmark(options: options).run { line in
            if !json { print(line) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(String(format: "median of %d runs, %d messages of %d bytes, %@:", report.runs.count, report.messages,
                         report.bodyBytes, report.broker))
            print(String(format: "  publish (confirmed)  %8.0f msg/s", report.publishMessagesPerSecond))
            print(String(format: "  consume (acked)      %8.0f msg/s", report.consumeMessagesPerSecond))
        }
    }
}
