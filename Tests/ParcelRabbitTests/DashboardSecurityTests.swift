import Foundation
import ParcelTestSupport
import Testing

/// One HTTP exchange through curl, which sends exactly the headers it is given (a forged Host too).
struct HTTPExchange {
    let status: Int
    /// Lowercased names; the last value of each.
    let headers: [String: String]
    let body: String

    static func get(_ url: String, headers: [String] = []) async throws -> HTTPExchange {
        let exit = try await runChild(URL(fileURLWithPath: "/usr/bin/curl"),
                                      ["-sS", "-i", "--max-time", "10"] + headers.flatMap { ["-H", $0] } + [url])
        try #require(exit.status == 0, "curl \(url): \(exit.errors)")
        let parts = exit.output.components(separatedBy: "\r\n\r\n")
        let lines = parts[0].components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ").dropFirst().first ?? "") ?? 0
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPExchange(status: status, headers: fields, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// The headers every dashboard response must carry.
    func expectSecurityHeaders(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let policy = headers["content-security-policy"] ?? ""
        for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
            #expect(policy.contains(directive), "\(what): CSP \(policy)", sourceLocation: sourceLocation)
        }
        #expect(!policy.contains("unsafe-inline") && !policy.contains("*"), "\(what): CSP \(policy)", sourceLocation: sourceLocation)
        #expect(headers["x-content-type-options"] == "nosniff", "\(what): \(headers)", sourceLocation: sourceLocation)
        #expect(headers["referrer-policy"] == "no-referrer", "\(what): \(headers)", sourceLocation: sourceLocation)
    }
}

@Suite("Dashboard security: Host check, headers, loopback, token", .serialized)
struct DashboardSecurityTests {
    @Test("on loopback: a foreign Host is refused (DNS rebinding); every response, refusals too, carries the security headers",
          .timeLimit(.minutes(1)))
    func hostCheckAndHeaders() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let dashboard = try await DashboardProcess(fixture, [])
        let port = dashboard.port
        let base = "http://127.0.0.1:\(port)"

        let page = try await HTTPExchange.get(base + "/")
        #expect(page.status == 200 && page.body.contains("<html"))
        page.expectSecurityHeaders("the page")
        #expect(!page.body.contains("<style") && !page.body.contains("style=") && !page.body.contains("<script>"),
                "the page holds no inline script or style: \(page.body)")
        for (path, type) in [("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css"), ("/api/report", "application/json")] {
            let asset = try await HTTPExchange.get(base + path)
            #expect(asset.status == 200 && asset.headers["content-type"]?.hasPrefix(type) == true, "\(path): \(asset.headers)")
            asset.expectSecurityHeaders(path)
        }
        try await HTTPExchange.get(base + "/nothing-here").expectSecurityHeaders("a 404")

        for host in ["localhost:\(port)", "[::1]:\(port)", "127.0.0.1:\(port)"] {
            #expect(try await HTTPExchange.get(base + "/api/report", headers: ["Host: \(host)"]).status == 200, "\(host)")
        }
        for host in ["evil.example:\(port)", "127.0.0.1.evil.example:\(port)", "127.0.0.1:\(port + 1)", "localhost", "evil.example"] {
            let refused = try await HTTPExchange.get(base + "/api/report", headers: ["Host: \(host)"])
            #expect(refused.status == 421, "Host \(host): \(refused.status)")
            #expect(!refused.body.contains("generated_at"), "Host \(host): the report leaked")
            refused.expectSecurityHeaders("a refused Host")
        }
        let noHost = try await HTTPExchange.get(base + "/", headers: ["Host:"])
        #expect(noHost.status == 421, "no Host: \(noHost.status)")
        await dashboard.process.stop()
        try await fixture.tearDown()
    }

    @Test("127.example.com is a host name, not loopback: the dashboard will not listen there without a token",
          .timeLimit(.minutes(1)))
    func lookalikeNameIsNotLoopback() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        for host in ["127.example.com", "127.0.0.1.nip.io", "0.0.0.0"] {
            let refused = try await fixture.cli().run(["dashboard", "--host", host, "--port", "0"])
            #expect(refused.status != 0, "\(host)")
            #expect(refused.stderr.contains("needs --token"), "\(host): \(refused.stderr)")
        }
        try await fixture.tearDown()
    }

    @Test("beyond loopback: Bearer is accepted; ?token= only sets a cookie and redirects (303) without it; the cookie works; wrong ones do not",
          .timeLimit(.minutes(1)))
    func tokenBearerAndCookie() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let dashboard = try await DashboardProcess(fixture, ["--host", "0.0.0.0", "--token", "s3cret"])
        let base = "http://127.0.0.1:\(dashboard.port)"

        let anonymous = try await HTTPExchange.get(base + "/api/report")
        #expect(anonymous.status == 401 && anonymous.headers["www-authenticate"]?.hasPrefix("Bearer") == true, "\(anonymous)")
        anonymous.expectSecurityHeaders("a 401")
        #expect(try await HTTPExchange.get(base + "/api/report", headers: ["Authorization: Bearer s3cret"]).body.contains("generated_at"))
        #expect(try await HTTPExchange.get(base + "/", headers: ["Authorization: Bearer s3cret"]).status == 200)
        for wrong in ["Bearer s3cre", "Bearer s3crett", "Bearer S3CRET", "Basic czNjcmV0", "s3cret"] {
            #expect(try await HTTPExchange.get(base + "/api/report", headers: ["Authorization: \(wrong)"]).status == 401, "\(wrong)")
        }

        let wrongQuery = try await HTTPExchange.get(base + "/?token=wrong")
        #expect(wrongQuery.status == 401 && wrongQuery.headers["set-cookie"] == nil)
        let opened = try await HTTPExchange.get(base + "/?token=s3cret")
        #expect(opened.status == 303, "\(opened.status)")
        #expect(opened.headers["location"] == "/", "redirected to the same path without the token: \(opened.headers)")
        opened.expectSecurityHeaders("the redirect")
        let cookie = try #require(opened.headers["set-cookie"])
        let attributes = Set(cookie.split(separator: ";").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) })
        #expect(attributes == ["Path=/", "HttpOnly", "SameSite=Strict"], "\(cookie)")
        #expect(!opened.body.contains("s3cret") && !(opened.headers["location"] ?? "").contains("s3cret"))
        let pair = String(cookie.split(separator: ";")[0])
        #expect(try await HTTPExchange.get(base + "/", headers: ["Cookie: \(pair)"]).status == 200)
        #expect(try await HTTPExchange.get(base + "/api/report", headers: ["Cookie: other=1; \(pair)"]).body.contains("generated_at"))
        let reportRedirect = try await HTTPExchange.get(base + "/api/report?token=s3cret")
        #expect(reportRedirect.status == 303 && reportRedirect.headers["location"] == "/api/report")
        for wrong in ["parcelflow_dashboard=733363726575", "parcelflow_dashboard=s3cret", "parcelflow_dashboardx=733363726574"] {
            #expect(try await HTTPExchange.get(base + "/api/report", headers: ["Cookie: \(wrong)"]).status == 401, "\(wrong)")
        }
        await dashboard.process.stop()
        try await fixture.tearDown()
    }

    @Test("Chromium renders the page under its CSP with no violation, opened with ?token= and carried on by the cookie",
          .timeLimit(.minutes(2)))
    func chromiumUnderPolicy() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let dashboard = try await DashboardProcess(fixture, ["--host", "0.0.0.0", "--token", "s3cret", "--target", "2000"])
        let page = try await runChild(Tools.chromium, [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--user-data-dir=\(fixture.directory.appendingPathComponent("chromium").path)", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=5000", "--dump-dom", "http://127.0.0.1:\(dashboard.port)/?token=s3cret",
        ])
        await dashboard.process.stop()
        #expect(page.output.contains("data-state=\"ready\""), "the page did not render: \(page.output.prefix(2000))")
        #expect(page.output.contains("class=\"fill\" data-width=") && page.output.contains("style=\"width:"),
                "bar widths are set through the CSSOM")
        let violations = page.errors.split(separator: "\n").filter { $0.contains("Content Security Policy") || $0.contains("Refused to") }
        #expect(violations.isEmpty, "\(violations)")
        try await fixture.tearDown()
    }
}
