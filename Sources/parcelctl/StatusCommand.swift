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
            throw CommandFailure("no parcel has the id '\(Terminal.value(parcelID))'")
        }
        let history = try await store.history(parcelID)
        if json {
            Terminal.print(Self.json(record, history))
            return
        }
        let v = Terminal.value
        Terminal.print("Parcel \(v(record.parcelID)): \(v(record.status.description))")
        if let parcel = record.parcel {
            Terminal.print("  from \(v(parcel.sender.name)) (\(parcel.sender.relation.rawValue)) to \(v(parcel.recipient.name)), "
                + v(parcel.recipient.facility))
            Terminal.print("  \(Terminal.plural(parcel.contents.letters, "letter")), \(Terminal.plural(parcel.contents.drawings, "drawing")), "
                + "\(parcel.weightGrams) g, from \(v(parcel.origin))")
            if !parcel.contents.items.isEmpty {
                Terminal.print("  declared: " + parcel.contents.items.map(v).joined(separator: ", "))
            }
        } else if let erasedAt = record.erasedAt {
            Terminal.print("  personal data erased \(Timestamp.format(erasedAt)); the anonymous history is kept")
        }
        if let error = record.lastError, record.status.reason == nil { Terminal.print("  last error: \(v(error))") }
        Terminal.print("History:")
        for event in history {
            var line = "  \(Timestamp.format(event.at))  \(event.kind.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0))"
            line += event.stage?.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) ?? String(repeating: " ", count: 11)
            if let attempt = event.attempt { line += " attempt \(attempt)" }
            if let detail = event.detail { line += "  \(v(detail))" }
            if let worker = event.worker { line += "  [\(v(worker))]" }
            Terminal.print(line.trimmingTrailingSpaces())
        }
    }

    static func json(_ record: ParcelRecord, _ history: [ParcelEvent]) -> JSONValue {
        let status: [String: JSONValue] = [
            "state": .string(record.status.state.rawValue), "stage": .text(record.status.stage?.rawValue),
            "reason": .text(record.status.reason), "final": .bool(record.status.isFinal),
        ]
        let document: [String: JSONValue] = [
            "parcel_id": .string(record.parcelID),
            "parcel": record.parcel.flatMap { JSONValue.parse(Data(TaskEnvelope.encode($0).utf8)) } ?? .null,
            "erased_at": .text(record.erasedAt.map(Timestamp.format)),
            "status": .object(status),
            "stages_done": .int(record.progress.stagesDone),
            "attempts": .int(record.progress.attempts),
            "last_error": .text(record.lastError),
            "submitted_at": .string(Timestamp.format(record.submittedAt)),
            "updated_at": .string(Timestamp.format(record.updatedAt)),
            "history": .array(history.map { event in
                .object(["at": .string(Timestamp.format(event.at)), "kind": .string(event.kind.rawValue),
                         "stage": .text(event.stage?.rawValue), "attempt": .int(event.attempt), "detail": .text(event.detail),
                         "worker": .text(event.worker)])
            }),
        ]
        return .object(document)
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
