import ArgumentParser
import ParcelCommandLine
import ParcelCore

struct RulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Inspection rules files (parcel-worker --handler inspection=rules:FILE).",
        subcommands: [RulesCheck.self])
}

struct RulesCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check inspection rules files as a worker would at start, before they are deployed.",
        discussion: """
            Prints '<file>: ok' and what the file holds, or every problem as <file>:<line>: <field>: \
            <problem>; exits 1 when any file has a problem. The format is \
            schemas/inspection-rules.v1.schema.json; deploy/handlers/inspection-rules.json is an example.
            """)

    @Argument(help: "The rules files.")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one rules file") }
    }

    func run() async throws {
        var failed = 0
        for file in files {
            do {
                let rules = try InspectionRules.load(path: file)
                let blocked = ([rules.defaults] + rules.facilities.values.map(\.limits) + rules.origins.values.map(\.limits))
                    .reduce(0) { $0 + $1.blockedItems.count }
                let facilities = rules.facilities.count == 1 ? "1 facility" : "\(Terminal.count(rules.facilities.count)) facilities"
                Terminal.print("\(Terminal.value(file)): ok (\(facilities), "
                    + "\(Terminal.plural(rules.origins.count, "origin")), \(Terminal.plural(blocked, "blocked item")))")
            } catch {
                failed += 1
                Terminal.error(error.description)
            }
        }
        if failed > 0 { throw CommandFailure("\(failed) of \(files.count) rules file(s) have problems") }
    }
}
