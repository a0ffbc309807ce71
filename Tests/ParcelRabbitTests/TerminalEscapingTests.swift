import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// What a hostile file, message or store row holds: clear the screen, go back to the line's start,
/// and show the rest backwards.
private let hostile = "X\u{1B}[2J\rY\u{202E}Z"
/// How parcelctl shows it.
private let shown = #"X\e[2J\rY\u{202E}Z"#

/// The characters of `text` that would steer a terminal (line breaks are parcelctl's own).
private func steering(_ text: String) -> [String] {
    text.unicodeScalars.filter { TerminalText.isSteering($0) && $0 != "\n" }
        .map { "U+" + String($0.value, radix: 16, uppercase: true) }
}

@Suite("parcelctl escapes what it prints: no file, message or row can steer the terminal")
struct TerminalEscapingTests {
    @Test("submit: a CSV line with ESC[2J, a carriage return and U+202E in every field is reported escaped",
          .timeLimit(.minutes(1)))
    func submitErrorsEscaped() async throws {
        let fixture = try SubmitFixture()
        let cli = fixture.cli()
        #expect(try await cli.run(["setup"]).status == 0)
        let field = "\"\(hostile)\""
        let csv = ParcelParsing.csvColumns.joined(separator: ",") + "\n"
            + [field, field, field, field, field, field, "1", "100", field].joined(separator: ",") + "\n"
        let path = try fixture.write("hostile.csv", csv)
        let result = try await cli.run(["submit", "--file", path])
        #expect(result.status != 0)
        #expect(steering(result.stdout + result.stderr).isEmpty, "raw: \(steering(result.stderr)) in \(result.stderr)")
        #expect(result.stderr.contains("hostile.csv:2: id: '\(shown)' may hold only"), "\(result.stderr)")
        #expect(result.stderr.contains("hostile.csv:2: sender_relation: '\(shown)' is not a known relation"), "\(result.stderr)")
        #expect(result.stderr.contains("hostile.csv:2: letters: expected a whole number, got \"\(shown)\""), "\(result.stderr)")
        #expect(result.stderr.contains("nothing was submitted"), "\(result.stderr)")
        #expect(try await fixture.collectionDepth() == 0)

        // From flags: the same value, reported the same way.
        let flags = try await cli.run(["submit", "--id", hostile, "--sender-name", "A", "--relation", hostile,
                                       "--recipient-name", "B", "--facility", "C", "--letters", "1", "--drawings", "0",
                                       "--weight-grams", "10", "--origin", "d"])
        #expect(flags.status != 0)
        #expect(steering(flags.stderr).isEmpty, "\(flags.stderr)")
        #expect(flags.stderr.contains("--id: '\(shown)' may hold only"), "\(flags.stderr)")

        // An error ArgumentParser itself prints (ValidationError) goes through the same helper.
        let named = try await cli.run(["submit", "--file", "parcels\(hostile).txt"])
        #expect(named.status != 0)
        #expect(steering(named.stderr).isEmpty && named.stderr.contains("cannot tell the format of 'parcels\(shown).txt'"),
                "\(named.stderr)")
        try await fixture.tearDown()
    }

    @Test("status, report and summary show a stored parcel's hostile names, reason and worker escaped; --json keeps them exact",
          .timeLimit(.minutes(1)))
    func storedTextEscaped() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        // Validation lets U+202E through in names (it is not a control character, and the store
        // refuses to read back a parcel with one); reasons and worker names are free text.
        let bidi = "Y\u{202E}Z", bidiShown = #"Y\u{202E}Z"#
        let parcel = Parcel(id: "P-hostile", sender: .init(name: bidi, relation: .mother),
                            recipient: .init(name: bidi, facility: bidi),
                            contents: .init(letters: 1, drawings: 0), weightGrams: 100, origin: bidi)
        #expect(parcel.validationIssues.isEmpty)
        _ = try await store.submit([parcel], at: Date())
        for transition: Transition in [.queued(.collection), .started(.collection, attempt: 1),
                                       .deadLettered(.collection, reason: "bad field \(hostile)\nParcel P-fake: delivered")] {
            #expect(try await store.apply(transition, to: parcel.id, worker: "worker \(hostile)") == .applied)
        }
        await store.close()
        let cli = fixture.cli()

        let status = try await cli.run(["status", parcel.id])
        try #require(status.status == 0, "\(status.stderr)")
        #expect(steering(status.stdout).isEmpty, "raw: \(steering(status.stdout)) in \(status.stdout)")
        #expect(status.stdout.contains("from \(bidiShown) (mother) to \(bidiShown), \(bidiShown)"), "\(status.stdout)")
        #expect(status.stdout.contains("100 g, from \(bidiShown)"), "\(status.stdout)")
        // A line break in a value stays inside its line: no forged line.
        #expect(status.stdout.contains(#"dead-lettered at collection: bad field \#(shown)\nParcel P-fake: delivered"#), "\(status.stdout)")
        #expect(!status.stdout.split(separator: "\n").contains { $0.hasPrefix("Parcel P-fake") }, "\(status.stdout)")
        #expect(status.stdout.contains("[worker \(shown)]"), "\(status.stdout)")

        let json = try await cli.run(["status", parcel.id, "--json"])
        #expect(steering(json.stdout).isEmpty, "raw: \(steering(json.stdout)) in \(json.stdout)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["status"] as? [String: Any])?["reason"] as? String == "bad field \(hostile)\nParcel P-fake: delivered")
        #expect(((object["parcel"] as? [String: Any])?["recipient"] as? [String: Any])?["name"] as? String == bidi)

        let report = try await cli.run(["report"])
        #expect(report.status == 0, "\(report.stderr)")
        #expect(steering(report.stdout).isEmpty, "raw: \(steering(report.stdout)) in \(report.stdout)")
        #expect(report.stdout.contains("P-hostile  dead-lettered at collection"), "\(report.stdout)")
        #expect(report.stdout.contains(#"bad field \#(shown)\nParcel P-fake"#), "\(report.stdout)")
        let reportJSON = try await cli.run(["report", "--json"])
        #expect(steering(reportJSON.stdout).isEmpty, "raw: \(steering(reportJSON.stdout))")
        let summary = try await cli.run(["summary"])
        #expect(summary.stdout.contains("1 parcel: ") && steering(summary.stdout).isEmpty, "\(summary.stdout)")

        let missing = try await cli.run(["status", hostile])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no parcel has the id '\(shown)'") && steering(missing.stderr).isEmpty, "\(missing.stderr)")
        try await fixture.tearDown()
    }

    @Test("dlq list and show print a forged letter's id, reason, headers, properties and body escaped", .timeLimit(.minutes(1)))
    func deadLetterEscaped() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        try await channel.enableConfirms()
        // Published straight to the dead-letter exchange, as anyone with publish rights could.
        let headers: AMQPTable = [
            DeadLetter.Header.reason: .string(hostile), DeadLetter.Header.kind: "permanent", DeadLetter.Header.stage: "collection",
            "x-\(hostile)": .array([.string(hostile), .table([hostile: .string(hostile)])]),
        ]
        try await channel.publish(AMQPOutboundMessage(
            exchange: fixture.topology.deadExchange, routingKey: "collection", body: Data("body \(hostile)\nline two\r".utf8),
            properties: AMQPProperties(contentType: hostile, headers: headers, deliveryMode: 2, correlationID: hostile,
                                       messageID: hostile)))
        await connection.close()
        let cli = fixture.cli()

        let list = try await cli.run(["dlq", "list"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(steering(list.stdout).isEmpty, "raw: \(steering(list.stdout)) in \(list.stdout)")
        #expect(list.stdout.contains(shown), "\(list.stdout)")

        let show = try await cli.run(["dlq", "show", hostile])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(steering(show.stdout).isEmpty, "raw: \(steering(show.stdout)) in \(show.stdout)")
        for expected in ["Letter for parcel \(shown)", "reason     \(shown)", "x-\(shown): [\"\(shown)\", {\(shown): \"\(shown)\"}]",
                         "content_type: \(shown)", "message_id: \(shown)", "  body \(shown)\n  line two\\r"] {
            #expect(show.stdout.contains(expected), "\(expected) not in \(show.stdout)")
        }
        let json = try await cli.run(["dlq", "show", hostile, "--json"])
        #expect(steering(json.stdout).isEmpty, "raw: \(steering(json.stdout)) in \(json.stdout)")
        let letters = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(letters.first?["reason"] as? String == hostile)
        let listJSON = try await cli.run(["dlq", "list", "--json"])
        #expect(steering(listJSON.stdout).isEmpty, "raw: \(steering(listJSON.stdout))")

        let missing = try await cli.run(["dlq", "replay", "P-\(hostile)"])
        #expect(missing.status != 0)
        #expect(steering(missing.stderr).isEmpty && missing.stderr.contains("'P-\(shown)'"), "\(missing.stderr)")
        try await fixture.tearDown()
    }
}
