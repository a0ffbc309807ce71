import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore

struct SummaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Count parcels by state; optionally wait until a number of them are finished.",
        discussion: """
            Finished means delivered, held (at any stage, waiting for review), dead-lettered, or \
            returned to its sender. With --until-final N the \
            command waits (showing progress on a terminal) until N parcels are finished, then prints \
            the counts; it fails if --timeout passes first.
            """)

    @OptionGroup var store: StoreOptions

    @Option(help: ArgumentHelp("Wait until this many parcels are finished.", valueName: "count"))
    var untilFinal: Int?

    @Option(help: ArgumentHelp("Seconds to wait at most.", valueName: "seconds"))
    var timeout: Double = 600

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() async throws {
        let store = try await self.store.open()
        let started = ContinuousClock.now
        var counts = try await store.countsByState()
        if let target = untilFinal {
            let bar = ProgressBar(label: "finished")
            let deadline = started + .seconds(timeout)
            while ParcelStatus.State.finalCount(counts) < target {
                bar.update(ParcelStatus.State.finalCount(counts), of: target)
                guard ContinuousClock.now < deadline else {
                    bar.finish()
                    throw CommandFailure("only \(ParcelStatus.State.finalCount(counts)) of \(target) parcels finished within \(Int(timeout)) s")
                }
                try await Task.sleep(for: .milliseconds(25))
                counts = try await store.countsByState()
            }
            bar.update(target, of: target)
            bar.finish()
        }
        let elapsed = ContinuousClock.now - started
        if json {
            var object: [String: JSONValue] = Dictionary(uniqueKeysWithValues: ParcelStatus.State.allCases.map {
                ($0.rawValue, .int(counts[$0] ?? 0))
            })
            object["finished"] = .int(ParcelStatus.State.finalCount(counts))
            object["total"] = .int(counts.values.reduce(0, +))
            if untilFinal != nil { object["waited_s"] = .number(elapsed / .seconds(1)) }
            Terminal.print(JSONValue.object(object))
            return
        }
        let total = counts.values.reduce(0, +)
        Terminal.print("\(Terminal.plural(total, "parcel")): " + ParcelStatus.State.allCases.compactMap { state in
            counts[state].map { "\(Terminal.count($0)) \(Terminal.name(state))" }
        }.joined(separator: ", "))
        if untilFinal != nil { Terminal.print("Waited \(Terminal.seconds(elapsed)).") }
    }
}
