import AMQP
import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore
import ParcelRabbit

struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Look after the dead-letter queue: the parcels ParcelFlow gave up on.",
        discussion: """
            A parcel's task ends up in the dead-letter queue when a stage fails for good: a permanent \
            error, a passing error that kept coming back until the attempts ran out, a message that is \
            not a valid task, or a poison message that kept crashing workers (the broker moves those \
            itself once the stage queue's delivery limit is reached). Each letter tells the stage, the \
            attempts, the kind of error and the reason.

            Look with `list` and `show` (they never remove anything), fix the cause, then `replay`: \
            each parcel continues from the stage where it failed. `purge` deletes every letter. The \
            queue is <namespace>.dead, the namespace being PARCELFLOW_NAMESPACE, else parcelflow.

            Examples:
              parcelctl dlq list
              parcelctl dlq show P-2026-000123
              parcelctl dlq replay P-2026-000123 P-2026-000124
              parcelctl dlq replay --all
              parcelctl dlq purge --yes
            """,
        subcommands: [DLQList.self, DLQShow.self, DLQReplay.self, DLQPurge.self])
}

struct DLQList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the dead letters: parcel, stage, attempts, kind of error, when, and reason.",
        discussion: """
            Kinds: transient (kept failing until the attempts ran out), permanent (failed in a way \
            retrying cannot fix), invalid (not a valid task), poison (kept crashing workers; the broker \
            moved it). The letters are read and put back: listing removes nothing, though their order \
            in the queue may change.
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup(visibility: .hidden) var topologyOptions: TopologyOptions

    @Option(help: ArgumentHelp("Show at most this many letters, from the front of the queue.", valueName: "count"))
    var limit = 50

    @Flag(help: "Print one JSON object: the queue, its count and the letters.")
    var json = false

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be 1 or more") }
    }

    func run() async throws {
        let listing = try await withDeadLetterQueue(broker, topologyOptions, "parcelctl dlq list") { try await $0.list(limit: limit) }
        let queue = try topologyOptions.topology().deadQueue
        if json {
            Terminal.print(JSONValue.object([
                "queue": .string(queue), "count": .int(listing.count),
                "letters": .array(listing.entries.map { .object(DLQOutput.summary($0)) }),
            ]))
            return
        }
        guard !listing.entries.isEmpty else {
            Terminal.print("The dead-letter queue \(queue) is empty.")
            return
        }
        let shown = listing.entries.count < listing.count ? " (showing the first \(Terminal.count(listing.entries.count)))" : ""
        Terminal.print("\(Terminal.plural(listing.count, "letter")) in \(queue)\(shown):")
        Terminal.print(DLQOutput.table(listing.entries))
        Terminal.print("See one whole with `parcelctl dlq show ID`; put them back with `parcelctl dlq replay ID…` or `--all`.")
    }
}

struct DLQShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a dead letter whole: its headers, properties and task.",
        discussion: "The letter is read and put back; nothing is removed.")

    @OptionGroup var broker: BrokerOptions
    @OptionGroup(visibility: .hidden) var topologyOptions: TopologyOptions

    @Argument(help: ArgumentHelp("The parcel id, or the task id (PARCEL:stage).", valueName: "id"))
    var id: String

    @Flag(help: "Print a JSON array of the matching letters (usually one).")
    var json = false

    func run() async throws {
        let found = try await withDeadLetterQueue(broker, topologyOptions, "parcelctl dlq show") { try await $0.find(id) }
        if json {
            Terminal.print(JSONValue.array(found.map { .object(DLQOutput.whole($0)) }))
            if found.isEmpty { throw ExitCode.failure }
            return
        }
        guard !found.isEmpty else {
            throw CommandFailure("no letter in \(try topologyOptions.topology().deadQueue) has the parcel or task id '\(Terminal.value(id))'")
        }
        if found.count > 1 { Terminal.print("\(Terminal.count(found.count)) letters match '\(Terminal.value(id))'.\n") }
        Terminal.print(found.map(DLQOutput.text).joined(separator: "\n\n"))
    }
}

struct DLQReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Put dead letters back to work: each parcel continues from the stage where it failed.",
        discussion: """
            For each letter, the status store records the parcel as queued again at its stage, the \
            task is published again to that stage (attempt 1, with a broker confirm), and only then \
            is the letter removed. A letter that is not a valid task, or whose parcel is no longer \
            dead-lettered at that stage, is left in the queue and reported. Replaying the same letter \
            twice is harmless. Exits non-zero when any letter could not be replayed or an id was not \
            found.
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup(visibility: .hidden) var topologyOptions: TopologyOptions

    @Argument(help: ArgumentHelp("Parcel ids, or task ids (PARCEL:stage), of the letters to replay.", valueName: "id"))
    var ids: [String] = []

    @Flag(help: "Replay every letter in the queue.")
    var all = false

    func validate() throws {
        if all == !ids.isEmpty { throw ValidationError("give the ids of the letters to replay, or --all (not both)") }
    }

    func run() async throws {
        let selection: DeadLetterQueue.Selection = all ? .all : .ids(ids)
        let by = "parcelctl \(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)"
        // The broker first: if it cannot be reached, the store is left untouched.
        let report = try await withDeadLetterQueue(broker, topologyOptions, "parcelctl dlq replay") { dlq in
            try await dlq.replay(selection, store: try await store.open(), replayedBy: by)
        }
        for entry in report.replayed {
            let stage = (try? entry.task.get())?.stage ?? entry.stage
            Terminal.print("Replayed \(entry.parcelID.map(Terminal.value) ?? "?"): queued again for \(stage.map(\.rawValue) ?? "its stage").")
        }
        for (entry, reason) in report.refused {
            Terminal.error("Not replayed: \(DLQOutput.name(entry)): \(Terminal.value(reason))")
        }
        for id in report.notFound {
            Terminal.error("Not found: no letter has the parcel or task id '\(Terminal.value(id))'")
        }
        if let error = report.interrupted {
            Terminal.error("Stopped: the broker connection failed (\(Terminal.value("\(error)"))); the letters not reached yet are untouched")
        }
        if report.replayed.isEmpty, report.refused.isEmpty, report.notFound.isEmpty, report.interrupted == nil {
            Terminal.print("The dead-letter queue is empty: nothing to replay.")
            return
        }
        Terminal.print("Replayed \(Terminal.plural(report.replayed.count, "letter")).")
        guard report.succeeded else {
            var problems: [String] = []
            if !report.refused.isEmpty { problems.append("\(Terminal.plural(report.refused.count, "letter")) not replayed (still in the queue)") }
            if !report.notFound.isEmpty { problems.append("\(Terminal.plural(report.notFound.count, "id")) not found") }
            if report.interrupted != nil { problems.append("interrupted") }
            throw CommandFailure(problems.joined(separator: ", "))
        }
    }
}

struct DLQPurge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Delete dead letters for good: all of them, or those older than an age (asks for --yes).",
        discussion: """
            The letters are gone for good and cannot be replayed; their parcels stay dead-lettered in \
            the status store. Without --yes it only says how many letters it would delete. \
            --older-than 30d keeps the letters of the last 30 days (also 12h, 90m): run it daily to \
            give dead letters a maximum age.
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup(visibility: .hidden) var topologyOptions: TopologyOptions

    @Flag(help: "Yes, delete the letters for good.")
    var yes = false

    @Option(help: ArgumentHelp("Only letters older than this: a number of days, hours or minutes (30d, 12h, 90m).",
                               valueName: "age"))
    var olderThan: String?

    func validate() throws {
        if let olderThan { _ = try Self.age(olderThan) }
    }

    /// `30d`, `12h`, `90m` as seconds: a whole number up to ten years' worth.
    static func age(_ text: String) throws -> TimeInterval {
        let units: [Character: TimeInterval] = ["d": 86_400, "h": 3_600, "m": 60]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count >= 0,
            Double(count) * unit <= 10 * 365 * 86_400
        else {
            throw ValidationError("--older-than: expected a number of days, hours or minutes up to ten years, "
                + "such as 30d, 12h or 90m; got '\(Terminal.value(text))'")
        }
        return Double(count) * unit
    }

    func run() async throws {
        let queue = try topologyOptions.topology().deadQueue
        if let olderThan {
            let cutoff = Date().addingTimeInterval(-(try Self.age(olderThan)))
            guard yes else {
                throw CommandFailure("this would delete the letters in \(queue) written before \(Timestamp.format(cutoff)) for good; add --yes")
            }
            let expiry = try await withDeadLetterQueue(broker, topologyOptions, "parcelctl dlq purge") { try await $0.expire(olderThan: cutoff) }
            Terminal.print("Purged \(Terminal.plural(expiry.removed, "letter")) written before \(Timestamp.format(cutoff)) from \(queue)."
                + (expiry.undated == 0 ? "" : " Kept \(Terminal.plural(expiry.undated, "letter")) with no time on them."))
            return
        }
        let yes = self.yes
        let count = try await withDeadLetterQueue(broker, topologyOptions, "parcelctl dlq purge") { dlq in
            yes ? try await dlq.purge() : try await dlq.count()
        }
        guard yes else {
            throw CommandFailure("this would delete \(Terminal.plural(count, "letter")) in \(queue) for good; add --yes")
        }
        Terminal.print("Purged \(Terminal.plural(count, "letter")) from \(queue).")
    }
}

/// Connects, runs `body` on the namespace's dead-letter queue, and closes.
private func withDeadLetterQueue<T: Sendable>(_ broker: BrokerOptions, _ topologyOptions: TopologyOptions, _ name: String,
                                              _ body: (DeadLetterQueue) async throws -> T) async throws -> T {
    let topology = try topologyOptions.topology()
    return try await broker.withConnection(name: name) { try await body(DeadLetterQueue(connection: $0, topology: topology)) }
}
