import Hummingbird
import Synchronization

/// What every dashboard response carries, whatever it is (page, report, error, redirect): the page
/// runs only its own script and style, may not be framed, is not sniffed into another type, and sends
/// no referrer.
enum DashboardHeaders {
    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:",
        "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    static let fields: HTTPFields = [
        .contentSecurityPolicy: contentSecurityPolicy,
        .xContentTypeOptions: "nosniff",
        .init("Referrer-Policy")!: "no-referrer",
        .init("X-Frame-Options")!: "DENY",
    ]
}

/// The Host header check against DNS rebinding: a page on another site whose name the attacker
/// points at 127.0.0.1 reaches a loopback server with its own name in `Host`. A loopback server
/// answers only to its loopback names (`localhost`, `127.0.0.1`, `[::1]`, or the address it was told
/// to bind) with its own port.
enum HostCheck {
    /// True when `authority` (the request's `Host`) names this loopback server.
    static func accepts(_ authority: String?, bindHost: String, port: Int) -> Bool {
        guard let authority, let (host, given) = split(authority) else { return false }
        let bound = bindHost.lowercased()
        let names: Set<String> = ["localhost", "127.0.0.1", "[::1]", bound.contains(":") ? "[\(bound)]" : bound]
        return names.contains(host) && (given ?? 80) == port
    }

    /// `host[:port]` or `[v6]:port`, the host lowercased; nil when malformed.
    static func split(_ authority: String) -> (host: String, port: Int?)? {
        let text = Substring(authority.lowercased())
        let host: Substring, rest: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[...close]
            rest = text[text.index(after: close)...]
        } else if let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            rest = text[colon...]
        } else {
            host = text
            rest = ""
        }
        guard !host.isEmpty else { return nil }
        if rest.isEmpty { return (String(host), nil) }
        let digits = rest.dropFirst()
        guard rest.first == ":", (1...5).contains(digits.count), digits.allSatisfy({ ("0"..."9").contains($0) }),
              let port = Int(digits), port <= 65_535 else { return nil }
        return (String(host), port)
    }
}

/// Who may read the dashboard. Without a token (loopback only): anyone who reaches it. With one:
/// a request that carries it in `Authorization: Bearer …`, or in the cookie set when the page was
/// opened as `/?token=…` — that request only sets the cookie and is redirected (303) to the same path
/// without the token, so the token stays out of the browser's history, of logs and of referrers.
struct DashboardAccess: Sendable {
    static let cookieName = "parcelflow_dashboard"
    let token: String?

    /// Nil when the request may go on; else the response to send instead (the redirect that sets
    /// the cookie). Throws 401 when the token is missing or wrong.
    func check(_ request: Request, path: String) throws -> Response? {
        guard let token else { return nil }
        let cookieValue = Self.cookieValue(token)
        if let given = request.uri.queryParameters.get("token") {
            guard Self.equalInConstantTime(String(given), token) else { throw Self.refusal }
            return Response(status: .seeOther, headers: [
                .location: path,
                .setCookie: "\(Self.cookieName)=\(cookieValue); Path=/; HttpOnly; SameSite=Strict",
                .cacheControl: "no-store",
            ])
        }
        let bearer = request.headers[values: .authorization].compactMap(Self.bearerToken)
        let cookies = request.headers[values: .cookie].flatMap(Self.cookies(named: Self.cookieName))
        guard bearer.contains(where: { Self.equalInConstantTime($0, token) })
            || cookies.contains(where: { Self.equalInConstantTime($0, cookieValue) }) else { throw Self.refusal }
        return nil
    }

    private static let refusal = HTTPError(
        .unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"parcelflow-dashboard\""],
        message: "a token is needed: open the dashboard as /?token=…, or send Authorization: Bearer …")

    /// The cookie holds the token hex-encoded: any token fits a cookie value that way.
    static func cookieValue(_ token: String) -> String {
        token.utf8.map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
        }.joined()
    }

    static func bearerToken(_ field: String) -> String? {
        let parts = field.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1].drop { $0 == " " })
    }

    static func cookies(named name: String) -> (String) -> [String] {
        { field in
            field.split(separator: ";").compactMap { pair in
                let pair = pair.drop { $0 == " " }
                guard let equals = pair.firstIndex(of: "="), pair[..<equals] == name else { return nil }
                return String(pair[pair.index(after: equals)...])
            }
        }
    }

    /// Compares every byte of the expected token whatever the given one holds, so the time taken
    /// tells nothing about how much of a guess was right (only the token's length could be told).
    static func equalInConstantTime(_ given: String, _ expected: String) -> Bool {
        let x = Array(given.utf8), y = Array(expected.utf8)
        var difference = UInt(bitPattern: x.count ^ y.count)
        for index in y.indices {
            difference |= UInt(y[index] ^ (index < x.count ? x[index] : 0))
        }
        return difference == 0 && !y.isEmpty
    }
}

/// Runs first on every request: refuses a foreign Host (on loopback), and puts
/// ``DashboardHeaders`` on every response, errors included.
struct DashboardGate<Context: RequestContext>: RouterMiddleware {
    let address: HTTPAddress
    let boundPort: BoundPort
    private static var host: HTTPFields.Element.Name { .init("Host")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            // Only on loopback: beyond it the token guards, and the server may be reached by any name.
            // The first Host header is the authority; a second one is a trick.
            if address.isLoopback, !HostCheck.accepts(request.head.authority, bindHost: address.host, port: boundPort.value)
                || request.headers[values: Self.host].count > 0 {
                throw HTTPError(.misdirectedRequest, message: "this dashboard answers only to its loopback address (Host header)")
            }
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        for field in DashboardHeaders.fields { response.headers[field.name] = field.value }
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

/// The port the server actually listens on (asked for 0, it learns it once bound).
final class BoundPort: Sendable {
    private let port: Mutex<Int>
    init(_ port: Int) { self.port = Mutex(port) }
    var value: Int { port.withLock { $0 } }
    func set(_ value: Int) { port.withLock { $0 = value } }
}
