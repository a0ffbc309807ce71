import ArgumentParser
import Foundation
import Logging
import ParcelCommandLine
import ParcelCore
import ParcelHTTP

struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve a web page that shows, at a glance, whether the month's target will be met.",
        discussion: """
            The page shows progress toward the target, the forecast, the stage funnel, throughput over \
            time, latency, dead letters and held parcels, and refreshes itself every 5 seconds. It reads \
            the same report as `parcelctl report --json` (GET /api/report). Read-only. It listens on \
            127.0.0.1 unless --host says otherwise, and on loopback it answers only to a loopback Host \
            (localhost, 127.0.0.1, [::1] or --host, with its port), so no other web site can read it \
            through DNS rebinding. Beyond loopback (--host not a 127.x.x.x or ::1 address, nor \
            localhost) it needs --token (or PARCELFLOW_DASHBOARD_TOKEN): open the page once as \
            http://HOST:PORT/?token=TOKEN, which sets a cookie (HttpOnly, SameSite=Strict) and \
            redirects to the page without the token; programs send `Authorization: Bearer TOKEN`. \
            The dashboard speaks plain HTTP: beyond one machine, put it behind a TLS proxy. Stop it \
            with Ctrl-C.
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var topologyOptions: TopologyOptions
    @OptionGroup var targetOptions: TargetOptions

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port = 8080

    @Option(help: ArgumentHelp("Token the page must be opened with; required beyond loopback.",
                               discussion: "Default: PARCELFLOW_DASHBOARD_TOKEN."))
    var token: String?

    func run() async throws {
        let source = ReportSource(store: try await store.open(), amqp: try broker.configuration(name: "parcelctl dashboard"),
                                  topology: try topologyOptions.topology(), target: try targetOptions.setting())
        let address = HTTPAddress(host: host, port: port)
        let server: DashboardServer
        do {
            server = try DashboardServer(address: address,
                                         token: token ?? ProcessInfo.processInfo.environment["PARCELFLOW_DASHBOARD_TOKEN"]) {
                try await source.report().json
            }
        } catch let error as DashboardServer.MissingToken {
            throw CommandFailure(error.description)
        }
        var logger = Logger(label: "parcelflow.dashboard")
        logger.logLevel = .warning
        let tokenHint = server.address.isLoopback ? "" : "?token=…"
        try await server.run(logger: logger) { bound in
            // Written at once, not buffered: scripts wait for this line to learn the port.
            let line = "Dashboard on http://\(HTTPAddress(host: address.host, port: bound))/\(tokenHint) (Ctrl-C to stop)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
        await source.close()
    }
}
