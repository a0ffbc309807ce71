import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show where a parcel is, and everything that happened to it.")

    @OptionGroup var store: StoreOptions

    @Argument(help: "The parcel's id.")
    var parcelID: String

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() async throws {
        let store = try await self.store.open()
        guard let record = try await store.record(parcelID) else {
            throw CommandFailure("no parcel has the id '\(parcelID)'")
        }
        let history = try await store.history(parcelID)
        if json {
            print(Self.json(record, history))
            return
        }
        let parcel = record.parcel
        print("Parcel \(parcel.id): \(record.status)")
        print("  from \(parcel.sender.name) (\(parcel.sender.relation.rawValue)) to \(parcel.recipient.name), \(parcel.recipient.facility)")
        print("  \(Terminal.plural(parcel.contents.letters, "letter")), \(Terminal.plural(parcel.contents.drawings, "drawing")), "
            + "\(parcel.weightGrams) g, from \(parcel.origin)")
        if let error = record.lastError, record.status.reason == nil { print("  last error: \(error)") }
        print("History:")
        for event in history {
            var line = "  \(Timestamp.format(event.at))  \(event.kind.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0))"
            line += event.stage?.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) ?? String(repeating: " ", count: 11)
            if let attempt = event.attempt { line += " attempt \(attempt)" }
            if let detail = event.detail { line += "  \(detail)" }
            if let worker = event.worker { line += "  [\(worker)]" }
            print(line.trimmingTrailingSpaces())
        }
    }

    static func json(_ record: ParcelRecord, _ history: [ParcelEvent]) -> String {
        func optional(_ value: Any?) -> Any { value ?? NSNull() }
        let status: [String: Any] = [
            "state": record.status.state.rawValue, "stage": optional(record.status.stage?.rawValue),
            "reason": optional(record.status.reason), "final": record.status.isFinal,
        ]
        let document: [String: Any] = [
            "parcel": (try? JSONSerialization.jsonObject(with: Data(TaskEnvelope.encode(record.parcel).utf8))) ?? NSNull(),
            "status": status,
            "stages_done": record.progress.stagesDone,
            "attempts": record.progress.attempts,
            "last_error": optional(record.lastError),
            "submitted_at": Timestamp.format(record.submittedAt),
            "updated_at": Timestamp.format(record.updatedAt),
            "history": history.map { event -> [String: Any] in
                ["at": Timestamp.format(event.at), "kind": event.kind.rawValue, "stage": optional(event.stage?.rawValue),
                 "attempt": optional(event.attempt), "detail": optional(event.detail), "worker": optional(event.worker)]
            },
        ]
        let data = try! JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
