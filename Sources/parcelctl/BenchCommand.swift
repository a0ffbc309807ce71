import AMQP
import ArgumentParser
import Foundation
import ParcelBench
import ParcelCommandLine
import ParcelCore
import ParcelStores

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure how fast ParcelFlow talks to the broker and reads its tasks.",
        subcommands: [AMQPBench.self, DecodeBench.self, StoreBench.self]
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

struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Time a status store's submits, checks and transitions as workers make them.",
        discussion: """
            Each round submits --parcels generated parcels (ids BENCH-…) in batches of 500, then takes \
            them through the four stages as workers settle tasks: per batch of --batch tasks, one read \
            (check) and one transaction holding each task's "started" and "completed". The figures are \
            the medians of the rounds. Without --store it uses a temporary SQLite file; a store given \
            must hold no parcels but the benchmark's, which it removes at the end. No broker is needed.
            """
    )

    @Option(name: .customLong("store"), help: ArgumentHelp("The store to measure: sqlite:PATH or postgres://….",
                                                           valueName: "location"))
    var location: String?

    @Option(help: "Parcels per round.")
    var parcels = 2_000

    @Option(help: "Tasks settled per transaction (a worker's batch).")
    var batch = 64

    @Option(help: "Number of rounds; the report gives their medians.")
    var rounds = 5

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() async throws {
        var options = StoreBenchmark.Options()
        options.parcels = parcels
        options.batch = batch
        options.rounds = rounds
        let temporary = location == nil
            ? FileManager.default.temporaryDirectory.appendingPathComponent("parcelflow-bench-\(UUID().uuidString)").path
            : nil
        defer {
            if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
        }
        let storeLocation: StoreLocation
        if let temporary {
            storeLocation = .sqlite(path: "\(temporary)/status.db")
        } else {
            do {
                storeLocation = try StoreLocation.parse(location!)
            } catch {
                throw CommandFailure(error.description)
            }
        }
        if let temporary { try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true) }
        let store = try await StatusStores.open(storeLocation)
        let json = self.json
        let report: StoreBenchmark.Report
        do {
            report = try await StoreBenchmark(options: options).run(store: store, storeName: storeLocation.description) { line in
                if !json { print(line) }
            }
            await store.close()
        } catch let failure as StoreBenchmark.Failure {
            await store.close()
            throw CommandFailure(failure.description)
        } catch {
            await store.close()
            throw error
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(String(format: "median of %d rounds, %d parcels, %d tasks per transaction, %@:", report.rounds.count,
                         report.parcels, report.batch, report.store))
            print(String(format: "  submit               %8.1f µs/parcel", report.submitMicroseconds))
            print(String(format: "  check                %8.1f µs/task", report.checkMicroseconds))
            print(String(format: "  apply                %8.1f µs/task (%.2f ms per transaction)", report.applyMicroseconds,
                         report.applyTransactionMilliseconds))
            print(String(format: "  whole round          %8.2f s", report.totalSeconds))
        }
    }
}
