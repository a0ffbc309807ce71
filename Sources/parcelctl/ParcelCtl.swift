import ArgumentParser
import ParcelCommandLine

@main
struct ParcelCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parcelctl",
        abstract: "Submit parcels to ParcelFlow, follow them, and look after the queues.",
        discussion: """
            Every parcel goes through collection, packaging, inspection and delivery. The broker is \
            found through --url, else PARCELFLOW_AMQP_URL, else the local node that \
            ./deploy/local/broker.sh starts.
            """,
        subcommands: [SetupCommand.self, SubmitCommand.self, StatusCommand.self, SummaryCommand.self, HoldsCommand.self, ReleaseCommand.self, ReturnCommand.self, ReportCommand.self, DashboardCommand.self, LoadTestCommand.self, DLQCommand.self, EraseCommand.self, PruneCommand.self, GenerateCommand.self, BenchCommand.self, TeardownCommand.self, RulesCommand.self]
    )

    // Only for --help: every command takes --log-format (see LogOptions).
    @OptionGroup var logOptions: LogOptions

    static func main() async {
        await runMain(defaultLogLevel: .warning)
    }
}
