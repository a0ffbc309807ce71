import AMQP
import ArgumentParser
import Foundation
import ParcelBench
import ParcelCommandLine

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure how fast ParcelFlow talks to the broker and reads its tasks.",
        subcommands: [AMQPBench.self, DecodeBench.self]
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

struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Time reading and writing tasks, and report nanoseconds per task.",
        discussion: """
            Generates --tasks valid tasks spread evenly over the four stages, each carrying what the \
            stages before it record, and in each of --rounds rounds reads every one with the fast path \
            (TaskEnvelope.scanValid), then with the thorough reader that names every problem, then \
            writes every one. The figures are the medians of the rounds. No broker is needed.
            """
    )

    @Option(help: "Tasks per round.")
    var tasks = 4_000

    @Option(help: "Number of rounds; the report gives their medians.")
    var rounds = 9

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        var options = DecodeBenchmark.Options()
        options.tasks = tasks
        options.rounds = rounds
        let json = self.json
        let report: DecodeBenchmark.Report
        do {
            report = try DecodeBenchmark(options: options).run { line in
                if !json { print(line) }
            }
        } catch {
            throw CommandFailure(error.description)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(String(format: "median of %d rounds, %d tasks of %d bytes on average:", report.rounds.count, report.tasks,
                         report.meanBodyBytes))
            print(String(format: "  scan (fast path)     %8.0f ns/task", report.scanNanoseconds))
            print(String(format: "  thorough reader      %8.0f ns/task", report.thoroughNanoseconds))
            print(String(format: "  encode               %8.0f ns/task", report.encodeNanoseconds))
        }
    }
}
