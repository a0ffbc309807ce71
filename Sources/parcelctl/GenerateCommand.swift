import ArgumentParser
import Foundation
import ParcelCommandLine
import ParcelCore

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a file of made-up parcels, for demos and load tests.",
        discussion: "The same --seed always gives the same parcels. The format follows the file's extension (.csv, .jsonl).")

    @Option(help: "How many parcels.")
    var parcels = 2_000

    @Option(help: ArgumentHelp("Where to write them (.csv or .jsonl).", valueName: "path"))
    var output: String

    @Option(help: "Seed for the made-up details.")
    var seed: UInt64 = 2026

    @Option(help: "Id prefix: ids are PREFIX-000001 and on.")
    var prefix = "DEC"

    func run() throws {
        guard parcels >= 1 else { throw ValidationError("--parcels must be 1 or more") }
        guard let format = SubmissionFormat(path: output) else {
            throw ValidationError("--output must end in .csv or .jsonl")
        }
        let made = ParcelGenerator(seed: seed, idPrefix: prefix).parcels(parcels)
        let text = format == .csv ? ParcelGenerator.csv(made) : ParcelGenerator.jsonLines(made)
        try Data(text.utf8).write(to: URL(fileURLWithPath: output))
        print("Wrote \(Terminal.plural(parcels, "parcel")) to \(output).")
    }
}
