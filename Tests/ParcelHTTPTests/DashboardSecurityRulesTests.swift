@testable import ParcelHTTP
import Testing

/// The dashboard's rules on their own; `DashboardSecurityTests` (ParcelRabbitTests) checks them over
/// real HTTP against `parcelctl dashboard`.
@Suite("Dashboard security rules")
struct DashboardSecurityRulesTests {
    @Test("loopback is decided by parsing the address: 127.0.0.0/8, ::1 and localhost are; names that look like it are not")
    func loopbackParsed() {
        for host in ["127.0.0.1", "127.1.2.3", "127.255.255.255", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "localhost", "LOCALHOST"] {
            #expect(HTTPAddress(host: host, port: 80).isLoopback, "\(host)")
        }
        for host in ["127.example.com", "127.0.0.1.evil.example", "127.", "127.0.0.1 ", "0.0.0.0", "::", "10.0.0.1", "128.0.0.1",
                     "::2", "::ffff:10.0.0.1", "localhost.evil.example", "[::1]", "127.1", "0x7f.0.0.1", ""] {
            #expect(!HTTPAddress(host: host, port: 80).isLoopback, "\(host)")
        }
    }

    @Test("on loopback, Host must be a loopback name of this server, with its port")
    func hostCheck() {
        for host in ["127.0.0.1:8080", "localhost:8080", "LocalHost:8080", "[::1]:8080"] {
            #expect(HostCheck.accepts(host, bindHost: "127.0.0.1", port: 8080), "\(host)")
        }
        #expect(HostCheck.accepts("127.0.0.2:8080", bindHost: "127.0.0.2", port: 8080), "the address it was told to bind")
        #expect(HostCheck.accepts("[::1]:8080", bindHost: "::1", port: 8080))
        #expect(HostCheck.accepts("localhost", bindHost: "127.0.0.1", port: 80), "no port means 80")
        for host in ["evil.example:8080", "127.0.0.1:8081", "localhost", "127.0.0.1.evil.example:8080", "127.0.0.2:8080",
                     "localhost.:8080", "127.0.0.1:8080:8080", "127.0.0.1:", "127.0.0.1:+8080", "[::1", ":8080", "", "127.0.0.1 :8080"] {
            #expect(!HostCheck.accepts(host, bindHost: "127.0.0.1", port: 8080), "\(host)")
        }
        #expect(!HostCheck.accepts(nil, bindHost: "127.0.0.1", port: 8080), "no Host at all")
    }

    @Test("tokens compare equal only when every byte and the length match")
    func tokenComparison() {
        #expect(DashboardAccess.equalInConstantTime("s3cret", "s3cret"))
        for given in ["s3cre", "s3crett", "S3cret", "", "s3cret\u{0}", "x3cret"] {
            #expect(!DashboardAccess.equalInConstantTime(given, "s3cret"), "\(given)")
        }
        #expect(!DashboardAccess.equalInConstantTime("", ""), "an empty token never matches")
    }

    @Test("the token is read from Authorization: Bearer and from the dashboard's cookie")
    func tokenPlaces() {
        #expect(DashboardAccess.bearerToken("Bearer s3cret") == "s3cret")
        #expect(DashboardAccess.bearerToken("bearer s3cret") == "s3cret")
        #expect(DashboardAccess.bearerToken("Basic czNjcmV0") == nil)
        #expect(DashboardAccess.bearerToken("Bearer") == nil)
        let cookies = DashboardAccess.cookies(named: "parcelflow_dashboard")
        #expect(cookies("a=1; parcelflow_dashboard=733363726574; b=2") == ["733363726574"])
        #expect(cookies("xparcelflow_dashboard=1; parcelflow_dashboardx=2").isEmpty)
        #expect(DashboardAccess.cookieValue("s3cret") == "733363726574")
        #expect(DashboardAccess.cookieValue("a;b c\"é") == "613b62206322c3a9", "any token fits a cookie")
    }
}
