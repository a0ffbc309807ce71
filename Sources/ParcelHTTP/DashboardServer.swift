import Hummingbird
import Logging
import NIOCore
import ParcelCore

/// `parcelctl dashboard`: the page (`/`) and the report it shows (`/api/report`, the same JSON as
/// `parcelctl report --json`). Read-only. Off loopback it needs a token, given as `?token=` or
/// `Authorization: Bearer`.
public struct DashboardServer: Sendable {
    public let address: HTTPAddress
    let token: String?
    let report: @Sendable () async throws -> JSONValue

    public struct MissingToken: Error, CustomStringConvertible {
        public let description = "the dashboard needs --token (or PARCELFLOW_DASHBOARD_TOKEN) when it listens beyond loopback"
    }

    public init(address: HTTPAddress, token: String?, report: @escaping @Sendable () async throws -> JSONValue) throws {
        guard address.isLoopback || !(token ?? "").isEmpty else { throw MissingToken() }
        self.address = address
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        self.report = report
    }

    public func run(logger: Logger, listening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let router = Router()
        router.get("/") { request, _ in
            try authorize(request)
            return Response.text(DashboardPage.html, contentType: "text/html; charset=utf-8")
        }
        router.get("/api/report") { request, _ in
            try authorize(request)
            do {
                return Response.text(try await report().serialized(pretty: true) + "\n", contentType: "application/json")
            } catch {
                logger.error("could not build the report", metadata: ["error": "\(error)"])
                return Response.text("{\"error\": \"the report could not be read; see the dashboard's log\"}\n",
                                     status: .serviceUnavailable, contentType: "application/json")
            }
        }
        router.get("/health") { _, _ in Response.text("ok\n") }
        try await serve(router, at: address, logger: logger, listening: listening)
    }

    private func authorize(_ request: Request) throws {
        guard let token else { return }
        let given = request.uri.queryParameters.get("token")
            ?? request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard let given, Self.equalInConstantTime(given, token) else {
            throw HTTPError(.unauthorized, message: "a token is needed: open the dashboard as /?token=…")
        }
    }

    static func equalInConstantTime(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
