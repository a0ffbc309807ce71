@testable import AMQP
import Testing

/// Pure-logic tests for URI parsing, configuration, queue arguments and errors: no broker, no network.
@Suite("AMQPEndpoint and configuration")
struct EndpointTests {
    /// Parses `url`, expecting it to be rejected with `.invalidURL`; returns the error.
    @discardableResult
    private func rejected(_ url: String, sourceLocation: SourceLocation = #_sourceLocation) -> AMQPError? {
        do {
            let endpoint = try AMQPEndpoint(url: url)
            Issue.record("expected '\(url)' to be rejected, got \(endpoint)", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(error.code == .invalidURL, sourceLocation: sourceLocation)
            return error
        }
    }

    // MARK: - Defaults

    @Test("the memberwise defaults are guest/guest at localhost:5672, vhost /, no TLS")
    func memberwiseDefaults() {
        let endpoint = AMQPEndpoint()
        #expect(endpoint.host == "localhost")
        #expect(endpoint.port == 5672)
        #expect(endpoint.user == "guest")
        #expect(endpoint.password == "guest")
        #expect(endpoint.vhost == "/")
        #expect(endpoint.tls == nil)
        #expect(endpoint.heartbeatSeconds == nil)
        #expect(endpoint.connectTimeoutMilliseconds == nil)
        #expect(AMQPEndpoint(tls: AMQPTLSOptions()).port == 5671)
        #expect(AMQPEndpoint(port: 1234, tls: AMQPTLSOptions()).port == 1234)
    }

    @Test("a bare amqp:// URI means guest/guest at localhost:5672 on vhost /")
    func bareURI() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://")
        #expect(endpoint == AMQPEndpoint())
    }

    @Test("amqp:// with a host only keeps the other defaults")
    func hostOnly() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://rabbit.internal")
        #expect(endpoint.host == "rabbit.internal")
        #expect(endpoint.port == 5672)
        #expect(endpoint.user == "guest")
        #expect(endpoint.password == "guest")
        #expect(endpoint.vhost == "/")
        #expect(endpoint.tls == nil)
    }

    @Test("amqps:// defaults to port 5671 and turns TLS on with nothing overridden")
    func amqpsDefaults() throws {
        let endpoint = try AMQPEndpoint(url: "amqps://rabbit.internal")
        #expect(endpoint.port == 5671)
        #expect(endpoint.tls == AMQPTLSOptions())
        #expect(try AMQPEndpoint(url: "amqps://rabbit.internal:5999").port == 5999)
    }

    @Test("the scheme is case-insensitive")
    func schemeCase() throws {
        #expect(try AMQPEndpoint(url: "AMQP://h").tls == nil)
        #expect(try AMQPEndpoint(url: "AMQPS://h").tls != nil)
    }

    // MARK: - User, password, host, port, vhost

    @Test("a full URI sets every part")
    func fullURI() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://parcel:s3cret@broker-1.example.com:5673/prod")
        #expect(endpoint.user == "parcel")
        #expect(endpoint.password == "s3cret")
        #expect(endpoint.host == "broker-1.example.com")
        #expect(endpoint.port == 5673)
        #expect(endpoint.vhost == "prod")
    }

    @Test("user name and password are percent-decoded")
    func percentDecodedCredentials() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://us%65r%40corp:p%40ss%3Aw0rd@host")
        #expect(endpoint.user == "user@corp")
        #expect(endpoint.password == "p@ss:w0rd")
        #expect(endpoint.host == "host")
    }

    @Test("percent-escapes decode to UTF-8, upper or lower case hex")
    func utf8Escapes() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://j%C3%BCrgen:%e2%82%ac@host/caf%C3%A9")
        #expect(endpoint.user == "jürgen")
        #expect(endpoint.password == "€")
        #expect(endpoint.vhost == "café")
    }

    @Test("a user name without a password keeps the default password")
    func userWithoutPassword() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://parcel@host")
        #expect(endpoint.user == "parcel")
        #expect(endpoint.password == "guest")
    }

    @Test("an empty password is kept empty")
    func emptyPassword() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://parcel:@host")
        #expect(endpoint.user == "parcel")
        #expect(endpoint.password == "")
    }

    @Test("a colon in the password needs no escaping: only the first colon splits user from password")
    func colonInPassword() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://parcel:a:b@host")
        #expect(endpoint.user == "parcel")
        #expect(endpoint.password == "a:b")
    }

    @Test("the vhost is decoded from the path", arguments: [
        ("amqp://host", "/"),
        ("amqp://host/", "/"),
        ("amqp://host/%2f", "/"),
        ("amqp://host/%2F", "/"),
        ("amqp://host/prod", "prod"),
        ("amqp://host:5672/prod", "prod"),
        ("amqp://host/%2fprod", "/prod"),
        ("amqp://host/team%2Fa", "team/a"),
        ("amqp://host/a%20b", "a b"),
    ])
    func vhost(url: String, expected: String) throws {
        #expect(try AMQPEndpoint(url: url).vhost == expected)
    }

    @Test("an IPv6 host is written in brackets, with or without a port")
    func ipv6() throws {
        let withPort = try AMQPEndpoint(url: "amqp://u:p@[::1]:5673/v")
        #expect(withPort.host == "::1")
        #expect(withPort.port == 5673)
        #expect(withPort.vhost == "v")
        let withoutPort = try AMQPEndpoint(url: "amqps://[2001:db8::7]")
        #expect(withoutPort.host == "2001:db8::7")
        #expect(withoutPort.port == 5671)
    }

    /// RFC 6874 writes an IPv6 zone as `%25` inside the brackets; the type's documentation promises that
    /// the host is percent-decoded, and getaddrinfo wants `fe80::1%eth0`.
    @Test("an IPv6 host in brackets is percent-decoded like any other host")
    func ipv6ZoneIsDecoded() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://[fe80::1%25eth0]:5672")
        #expect(endpoint.host == "fe80::1%eth0")
    }

    @Test("a percent-encoded host name is decoded")
    func encodedHost() throws {
        #expect(try AMQPEndpoint(url: "amqp://my%2Dhost:1").host == "my-host")
    }

    @Test("an empty host means localhost", arguments: ["amqp://:5673", "amqp://user:pw@:5673", "amqp://user:pw@/v"])
    func emptyHost(url: String) throws {
        #expect(try AMQPEndpoint(url: url).host == "localhost")
    }

    @Test("ports 1 and 65535 are the limits")
    func portLimits() throws {
        #expect(try AMQPEndpoint(url: "amqp://h:1").port == 1)
        #expect(try AMQPEndpoint(url: "amqp://h:65535").port == 65535)
    }

    // MARK: - Query

    @Test("heartbeat and connection_timeout come from the query")
    func timingQuery() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://host/v?heartbeat=30&connection_timeout=2500")
        #expect(endpoint.heartbeatSeconds == 30)
        #expect(endpoint.connectTimeoutMilliseconds == 2500)
        #expect(endpoint.vhost == "v")
        #expect(try AMQPEndpoint(url: "amqp://host?heartbeat=0").heartbeatSeconds == 0)
        #expect(try AMQPEndpoint(url: "amqp://host/?heartbeat=5").vhost == "/")
    }

    @Test("empty query pairs are ignored")
    func emptyQueryPairs() throws {
        #expect(try AMQPEndpoint(url: "amqp://host?").heartbeatSeconds == nil)
        #expect(try AMQPEndpoint(url: "amqp://host?&heartbeat=7&").heartbeatSeconds == 7)
    }

    @Test("TLS query parameters fill the TLS options of an amqps:// URI")
    func tlsQuery() throws {
        let endpoint = try AMQPEndpoint(url:
            "amqps://host?cacertfile=%2Fetc%2Fca.pem&certfile=/etc/client.pem&keyfile=/etc/key.pem&verify=verify_none&verify_hostname=false")
        let tls = try #require(endpoint.tls)
        #expect(tls.caCertificatePath == "/etc/ca.pem")
        #expect(tls.certificatePath == "/etc/client.pem")
        #expect(tls.keyPath == "/etc/key.pem")
        #expect(tls.verifyPeer == false)
        #expect(tls.verifyHostname == false)
        #expect(endpoint.vhost == "/")  // a '/' in the query is not part of the path

        let verifying = try #require(try AMQPEndpoint(url: "amqps://host?verify=verify_peer&verify_hostname=true").tls)
        #expect(verifying.verifyPeer == true)
        #expect(verifying.verifyHostname == true)
        #expect(verifying.caCertificatePath == nil)
    }

    @Test("TLS query parameters are rejected on amqp://", arguments: [
        "cacertfile=/ca.pem", "certfile=/c.pem", "keyfile=/k.pem", "verify=verify_peer", "verify_hostname=true",
    ])
    func tlsQueryOnPlainAMQP(query: String) {
        rejected("amqp://host?\(query)")
    }

    @Test("invalid query values are rejected", arguments: [
        "heartbeat=-1", "heartbeat=abc", "heartbeat=", "heartbeat",
        "connection_timeout=0", "connection_timeout=-5", "connection_timeout=soon",
    ])
    func invalidQueryValues(query: String) {
        rejected("amqp://host?\(query)")
    }

    @Test("invalid TLS query values are rejected", arguments: ["verify=yes", "verify=", "verify_hostname=1", "verify_hostname=TRUE"])
    func invalidTLSQueryValues(query: String) {
        rejected("amqps://host?\(query)")
    }

    // MARK: - Lists

    @Test("a comma-separated list yields one endpoint per URI, trimming spaces and skipping empty items")
    func list() throws {
        let endpoints = try AMQPEndpoint.list(" amqp://a:1 ,amqps://u:p@b/v,\tamqp://[::1]:3 , ,")
        #expect(endpoints.count == 3)
        #expect(endpoints.map(\.host) == ["a", "b", "::1"])
        #expect(endpoints.map(\.port) == [1, 5671, 3])
        #expect(endpoints[1].tls != nil)
        #expect(endpoints[1].vhost == "v")
        #expect(try AMQPEndpoint.list("amqp://only") == [try AMQPEndpoint(url: "amqp://only")])
    }

    @Test("an empty list is rejected", arguments: ["", "   ", ",", " , ,"])
    func emptyList(urls: String) {
        let error = #expect(throws: AMQPError.self) { try AMQPEndpoint.list(urls) }
        #expect(error?.code == .invalidURL)
    }

    @Test("one bad URI in a list rejects the whole list")
    func badItemInList() {
        let error = #expect(throws: AMQPError.self) { try AMQPEndpoint.list("amqp://a, http://b") }
        #expect(error?.code == .invalidURL)
    }

    @Test("a configuration built from a URL list has the documented defaults")
    func configuration() throws {
        let config = try AMQPConfiguration(url: "amqp://a,amqp://b:5673", connectionName: "parcel-worker")
        #expect(config.endpoints.map(\.host) == ["a", "b"])
        #expect(config.endpoints.map(\.port) == [5672, 5673])
        #expect(config.connectionName == "parcel-worker")
        #expect(config.connectTimeout == .seconds(5))
        #expect(config.heartbeat == .seconds(10))
        #expect(config.requestTimeout == .seconds(30))
        #expect(config.tls == AMQPTLSOptions())
        #expect(config.frameMax == 131_072)
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "", connectionName: "x") }
    }

    // MARK: - Errors

    @Test("malformed URIs are rejected with .invalidURL", arguments: [
        "rabbit.internal:5672",           // no scheme
        "//rabbit.internal",              // no scheme
        "http://rabbit.internal",         // wrong scheme
        "amqpx://rabbit.internal",
        "amqp://host:0",                  // bad ports
        "amqp://host:70000",
        "amqp://host:abc",
        "amqp://host:",
        "amqp://host:-1",
        "amqp://[::1",                    // unclosed IPv6 bracket
        "amqp://[::1]x",
        "amqp://us%zzer@host",            // bad percent-escapes
        "amqp://host/v%2",
        "amqp://host/v%",
        "amqp://%ff@host",                // not UTF-8 once decoded
        "amqp://host?frame_max=1",        // unknown query key
        "amqp://host/a/b",                // an unencoded '/' in the vhost
        "amqp://host//",
    ])
    func malformed(url: String) {
        rejected(url)
    }

    @Test("error messages never contain the password", arguments: [
        "http://parcel:Hunter2Secret@host",
        "amqp://parcel:Hunter2Secret@host:abc",
        "amqp://parcel:Hunter2Secret@host:70000",
        "amqp://parcel:Hunter2Secret@host/a/b",
        "amqp://parcel:Hunter2Secret%zz@host",
        "amqp://parcel:Hunter2Secret@host?bogus=1",
        "amqp://parcel:Hunter2Secret@host?heartbeat=x",
        "amqp://parcel:Hunter2Secret@[::1",
        "amqps://parcel:Hunter2Secret@host?verify=maybe",
    ])
    func errorsHidePassword(url: String) throws {
        let error = try #require(rejected(url))
        #expect(!error.message.contains("Hunter2Secret"))
        #expect(!error.description.contains("Hunter2Secret"))
        #expect(!error.message.isEmpty)
    }

    /// A password with an unencoded `/`, `?` or `#` is invalid, but the error must still not quote it.
    @Test("error messages never contain part of a password that holds an unencoded / or ?", arguments: [
        "amqp://parcel:Hunter2/Secret@host",
        "amqp://parcel:Hunter2?Secret@host",
    ])
    func errorsHidePasswordWithReservedCharacters(url: String) throws {
        let error = try #require(rejected(url))
        #expect(!error.message.contains("Hunter2"))
    }

    @Test("each error says what was wrong")
    func errorMessagesAreSpecific() throws {
        #expect(try #require(rejected("host")).message.contains("scheme"))
        #expect(try #require(rejected("amqp://h:0")).message.contains("port"))
        #expect(try #require(rejected("amqp://h/a/b")).message.contains("vhost"))
        #expect(try #require(rejected("amqp://h?nope=1")).message.contains("nope"))
        #expect(try #require(rejected("amqp://u:p%g0@h")).message.contains("password"))
    }

    // MARK: - description

    @Test("description redacts the password", arguments: [
        ("amqp://parcel:s3cret@host:5673/prod", "amqp://parcel:***@host:5673/prod"),
        ("amqp://host", "amqp://guest:***@host:5672/%2f"),
        ("amqps://u:p@host/", "amqps://u:***@host:5671/%2f"),
        ("amqp://u:p@[::1]:5673/v", "amqp://u:***@[::1]:5673/v"),
        ("amqp://us%40er:p@h/team%2Fa", "amqp://us%40er:***@h:5672/team%2Fa"),
        ("amqp://u:p@h/a%20b", "amqp://u:***@h:5672/a%20b"),
    ])
    func description(url: String, expected: String) throws {
        let endpoint = try AMQPEndpoint(url: url)
        #expect(endpoint.description == expected)
        #expect("\(endpoint)" == expected)
    }

    @Test("description re-parses to the same endpoint apart from the password")
    func descriptionRoundTrips() throws {
        for url in ["amqp://u%3Ax:secret@h:1/v%2Fw", "amqps://[::1]:9/%2f", "amqp://h/caf%C3%A9"] {
            let endpoint = try AMQPEndpoint(url: url)
            var reparsed = try AMQPEndpoint(url: endpoint.description)
            #expect(reparsed.password == "***")
            reparsed.password = endpoint.password
            #expect(reparsed == endpoint)
        }
    }

    @Test("description never contains the password, even when it is also the user name")
    func descriptionHidesPassword() {
        let endpoint = AMQPEndpoint(host: "h", user: "alice", password: "Hunter2Secret")
        #expect(!endpoint.description.contains("Hunter2Secret"))
        #expect(endpoint.description == "amqp://alice:***@h:5672/%2f")
    }
}
