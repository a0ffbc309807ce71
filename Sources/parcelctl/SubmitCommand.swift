import AMQP
import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore
import ParcelRabbit

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit one parcel, or a whole file of them, for collection.",
        discussion: """
            From a file: --file parcels.csv (a header line, then one parcel per line) or \
            --file parcels.jsonl (one JSON object per line). The whole file is checked first; if any \
            line is wrong, each problem is listed with its line and field and nothing is submitted \
            (--skip-invalid submits the good lines anyway). A parcel counts as queued only once the \
            broker has confirmed it. Submitting the same parcel id again creates nothing new: re-running \
            a file is safe, and finishes what an interrupted run left.

            CSV columns: \(ParcelParsing.csvColumns.joined(separator: ",")), and optionally items: the \
            declared items separated by ';' (chocolate;photo). In JSON Lines: "contents": {"letters": 2, \
            "drawings": 1, "items": ["chocolate", "photo"]}. At most \(Parcel.maxDeclaredItems) items of \
            \(Parcel.maxItemLength) characters each; the inspection rules may hold a parcel for one.
            Relations: \(Relation.allCases.map(\.rawValue).joined(separator: ", ")).
            """
    )

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup(visibility: .hidden) var topologyOptions: TopologyOptions

    @Option(help: ArgumentHelp("A CSV or JSON Lines file of parcels.", valueName: "path"))
    var file: String?

    @Option(help: ArgumentHelp("The file's format, when its extension does not say (.csv, .jsonl).", valueName: "csv|jsonl"))
    var format: String?

    @Flag(help: "Submit the valid lines of a file even if other lines are invalid.")
    var skipInvalid = false

    @Option(help: ArgumentHelp("Refuse a file larger than this many bytes; a line may hold at most 65,536.", valueName: "bytes"))
    var maxFileSize = SubmissionLimits.defaultMaxFileBytes

    @Option(help: "Parcel id (one parcel from flags).") var id: String?
    @Option(help: "Sender's name.") var senderName: String?
    @Option(help: "Sender's relation to the recipient.") var relation: String?
    @Option(help: "Recipient's name.") var recipientName: String?
    @Option(help: "Recipient's facility (base, ward, station).") var facility: String?
    @Option(help: "Number of letters.") var letters: Int?
    @Option(help: "Number of drawings.") var drawings: Int?
    @Option(help: "Weight in grams.") var weightGrams: Int?
    @Option(help: "Depot or collection point the parcel starts from.") var origin: String?

    func run() async throws {
        let started = ContinuousClock.now
        let parcels = try readParcels()
        let checked = ContinuousClock.now
        guard !parcels.isEmpty else { throw CommandFailure("there is no parcel to submit") }

        let topology = try topologyOptions.topology()
        // The broker first: if it cannot be reached, the store is left untouched.
        try await broker.withConnection(name: "parcelctl submit (check)") { connection in
            try await connection.openChannel().checkExchange(topology.tasksExchange)
        }
        // Publishes go through a connection that, if its node is lost, moves to another and sends
        // again what was not confirmed (a parcel is still left `submitted` if that fails too).
        let publisher = ReconnectingPublisher(configuration: try broker.configuration(name: "parcelctl submit"),
                                              resendWithin: .seconds(30))
        let report: ParcelSubmitter.Report
        let submitting: Duration
        do {
            try await publisher.connect()
            let store = try await self.store.open()
            let bar = ProgressBar(label: "queued")
            let ready = ContinuousClock.now
            report = try await ParcelSubmitter(publisher: publisher, store: store, topology: topology).submit(parcels) { done, total in
                bar.update(done, of: total)
            }
            bar.finish()
            submitting = ContinuousClock.now - ready
            await publisher.close()
        } catch {
            await publisher.close()
            throw error
        }
        try explain(report, checking: checked - started, submitting: submitting, total: ContinuousClock.now - started)
    }

    func validate() throws {
        guard (1...(1 << 30)).contains(maxFileSize) else { throw ValidationError("--max-file-size must be from 1 to 1,073,741,824") }
    }

    private func readParcels() throws -> [Parcel] {
        if let file {
            let flagsGiven = [id, senderName, relation, recipientName, facility, origin].contains { $0 != nil }
                || [letters, drawings, weightGrams].contains { $0 != nil }
            if flagsGiven { throw ValidationError("give either --file or the parcel's flags, not both") }
            return try readFile(file)
        }
        return [try parcelFromFlags()]
    }

    private func readFile(_ path: String) throws -> [Parcel] {
        let format: SubmissionFormat
        if let name = self.format {
            guard let given = SubmissionFormat(rawValue: name.lowercased()) else {
                throw ValidationError("--format must be csv or jsonl")
            }
            format = given
        } else if let implied = SubmissionFormat(path: path) {
            format = implied
        } else {
            throw ValidationError("cannot tell the format of '\(path)' from its name: add --format csv or --format jsonl")
        }
        let data: Data
        do {
            data = try SubmissionReader.load(path: path, maxBytes: maxFileSize)
        } catch {
            throw CommandFailure("cannot read '\(Terminal.value(path))': \(error.reason); nothing was submitted")
        }
        let readout = SubmissionReader.read(data, format: format)
        if !readout.problems.isEmpty {
            let shown = readout.problems.prefix(50)
            for problem in shown {
                // The messages quote the file's own text (an id, a column name): escaped, like every echo.
                Terminal.error("\(path):\(problem.line): " + (problem.field.map { "\(Terminal.value($0)): " } ?? "")
                    + Terminal.value(problem.message))
            }
            if readout.problems.count > shown.count {
                Terminal.error("… and \(Terminal.plural(readout.problems.count - shown.count, "more problem"))")
            }
            let bad = readout.invalidLines.count
            if !skipInvalid {
                throw CommandFailure("nothing was submitted: \(Terminal.count(bad)) of \(Terminal.plural(readout.records, "line")) "
                    + "in \(path) \(bad == 1 ? "is" : "are") invalid (fix them, or use --skip-invalid to submit the "
                    + "\(Terminal.count(readout.parcels.count)) valid ones)")
            }
            Terminal.error("skipping \(Terminal.plural(bad, "invalid line")); submitting \(Terminal.count(readout.parcels.count)) parcels")
        }
        return readout.parcels.map(\.parcel)
    }

    private func parcelFromFlags() throws -> Parcel {
        var missing: [String] = []
        func need<T>(_ value: T?, _ flag: String) -> T? {
            if value == nil { missing.append(flag) }
            return value
        }
        let values = (need(id, "--id"), need(senderName, "--sender-name"), need(relation, "--relation"),
                      need(recipientName, "--recipient-name"), need(facility, "--facility"), need(letters, "--letters"),
                      need(drawings, "--drawings"), need(weightGrams, "--weight-grams"), need(origin, "--origin"))
        guard missing.isEmpty else {
            throw ValidationError("give --file, or all of the parcel's flags; missing: \(missing.joined(separator: ", "))")
        }
        let record = [
            "id": values.0!, "sender_name": values.1!, "sender_relation": values.2!, "recipient_name": values.3!,
            "recipient_facility": values.4!, "letters": "\(values.5!)", "drawings": "\(values.6!)",
            "weight_grams": "\(values.7!)", "origin": values.8!,
        ]
        switch ParcelParsing.parcel(fromCSV: record) {
        case .success(let parcel): return parcel
        case .failure(let invalid):
            for issue in invalid.issues { Terminal.error("\(Self.flag(for: issue.field)): \(Terminal.value(issue.message))") }
            throw CommandFailure("nothing was submitted: the parcel is invalid")
        }
    }

    private static func flag(for column: String) -> String {
        switch column {
        case "sender_relation": "--relation"
        case "recipient_facility": "--facility"
        case "letters/drawings": "--letters/--drawings"
        default: "--" + column.replacingOccurrences(of: "_", with: "-")
        }
    }

    private func explain(_ report: ParcelSubmitter.Report, checking: Duration, submitting: Duration, total: Duration) throws {
        if !report.queued.isEmpty {
            Terminal.print("Queued \(Terminal.plural(report.queued.count, "parcel")) for collection.")
        }
        if file != nil {
            Terminal.print("Took \(Terminal.seconds(total)): reading and checking the file \(Terminal.seconds(checking)), "
                + "publishing and recording \(Terminal.seconds(submitting)), the rest connecting and opening the store.")
        }
        if !report.alreadySubmitted.isEmpty {
            let sample = report.alreadySubmitted.prefix(5).map { "\(Terminal.value($0.id)) (\(Terminal.value($0.status.description)))" }
                .joined(separator: ", ")
            Terminal.print("Already submitted, left as they are: \(Terminal.plural(report.alreadySubmitted.count, "parcel")): \(sample)"
                + (report.alreadySubmitted.count > 5 ? ", …" : ""))
        }
        if !report.conflicting.isEmpty {
            Terminal.error("Submitted before with other details (the first ones were kept): "
                + report.conflicting.prefix(10).map(Terminal.value).joined(separator: ", ") + (report.conflicting.count > 10 ? ", …" : ""))
        }
        if !report.failed.isEmpty {
            for (id, error) in report.failed.prefix(10) { Terminal.error("\(Terminal.value(id)): not queued: \(Terminal.value("\(error)"))") }
            throw CommandFailure("\(Terminal.plural(report.failed.count, "parcel")) could not be queued; "
                + "run the same command again to retry them")
        }
    }
}
