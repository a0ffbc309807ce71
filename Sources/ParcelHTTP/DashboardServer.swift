import Hummingbird
import Logging
import NIOCore
import ParcelCore

/// `parcelctl dashboard`: the page (`/`, with `/dashboard.css` and `/dashboard.js`) and the report it
/// shows (`/api/report`, the same JSON as `parcelctl report --json`). Read-only.
///
/// On loopback it answers only to a loopback `Host` (``HostCheck``); beyond loopback it needs a token
/// (``DashboardAccess``). Every response carries ``DashboardHeaders``.
public struct DashboardServer: Sendable {
    public let address: HTTPAddress
    let access: DashboardAccess
    let report: @Sendable () async throws -> JSONValue

    public struct MissingToken: Error, CustomStringConvertible {
        public let description = "the dashboard needs --token (or PARCELFLOW_DASHBOARD_TOKEN) when it listens beyond loopback"
    }

    public init(address: HTTPAddress, token: String?, report: @escaping @Sendable () async throws -> JSONValue) throws {
        guard address.isLoopback || !(token ?? "").isEmpty else { throw MissingToken() }
        self.address = address
        self.access = DashboardAccess(token: token.flatMap { $0.isEmpty ? nil : $0 })
        self.report = report
    }

    public func run(logger: Logger, listening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let access = self.access, report = self.report
        let boundPort = BoundPort(address.port)
        let router = Router()
        router.add(middleware: DashboardGate(address: address, boundPort: boundPort))
        router.get("/") { request, _ in
            try access.check(request, path: "/") ?? Response.text(DashboardPage.html, contentType: "text/html; charset=utf-8")
        }
        // The style sheet and the script hold nothing from the report: no token needed.
        router.get("/dashboard.css") { _, _ in Response.text(DashboardPage.style, contentType: "text/css; charset=utf-8") }
        router.get("/dashboard.js") { _, _ in Response.text(DashboardPage.script, contentType: "text/javascript; charset=utf-8") }
        router.get("/api/report") { request, _ in
            if let redirect = try access.check(request, path: "/api/report") { return redirect }
            do {
                return Response.text(try await report().serialized(pretty: true) + "\n", contentType: "application/json")
            } catch {
                logger.error("could not build the report", metadata: ["error": "\(error)"])
                return Response.text("{\"error\": \"the report could not be read; see the dashboard's log\"}\n",
                                     status: .serviceUnavailable, contentType: "application/json")
            }
        }
        router.get("/health") { _, _ in Response.text("ok\n") }
        try await serve(router, at: address, logger: logger) { port in
            boundPort.set(port)
            listening(port)
        }
    }
}
