/// One broker address parsed from an AMQP URI (`amqp://user:pass@host:port/vhost?heartbeat=10`).
///
/// Follows RabbitMQ's URI specification: user name, password, host and vhost are percent-decoded,
/// `amqps` defaults to port 5671 and turns TLS on, and a missing or `/` path means the default vhost `/`
/// (spelled `%2f` in a URI). The password never appears in ``description``: it is the redacted form,
/// safe for logs and error messages.
public struct AMQPEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String
    /// TLS settings; `nil` for plain `amqp://`.
    public var tls: AMQPTLSOptions?
    /// `heartbeat=` from the query, in seconds.
    public var heartbeatSeconds: Int?
    /// `connection_timeout=` from the query, in milliseconds.
    public var connectTimeoutMilliseconds: Int?

    public init(host: String = "localhost", port: Int? = nil, user: String = "guest", password: String = "guest",
                vhost: String = "/", tls: AMQPTLSOptions? = nil) {
        self.host = host
        self.port = port ?? (tls == nil ? 5672 : 5671)
        self.user = user
        self.password = password
        self.vhost = vhost
        self.tls = tls
    }

    /// Parses one URI. Throws ``AMQPError/Code/invalidURL`` saying which part is wrong.
    public init(url: String) throws(AMQPError) {
        self = try URIParser(url).parse()
    }

    /// Parses a comma-separated list of URIs, the form used for a cluster (`PARCELFLOW_AMQP_URL`).
    public static func list(_ urls: String) throws(AMQPError) -> [AMQPEndpoint] {
        let parts = urls.split(separator: ",").map { $0.trimmedWhitespace() }.filter { !$0.isEmpty }
        guard !parts.isEmpty else { throw AMQPError(.invalidURL, "no broker URL given") }
        var endpoints: [AMQPEndpoint] = []
        for part in parts { endpoints.append(try AMQPEndpoint(url: String(part))) }
        return endpoints
    }

    /// `amqp://user:***@host:port/vhost` — the URI without the password.
    public var description: String {
        let scheme = tls == nil ? "amqp" : "amqps"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let vhostPart = vhost == "/" ? "%2f" : percentEncode(vhost)
        return "\(scheme)://\(percentEncode(user)):***@\(hostPart):\(port)/\(vhostPart)"
    }
}

/// Certificates and verification for `amqps://`. A `nil` field falls back to the connection's defaults
/// (``AMQPConfiguration/tls``); verification is on unless turned off explicitly.
public struct AMQPTLSOptions: Sendable, Hashable {
    /// PEM file of the certificate authorities that may sign the broker's certificate.
    public var caCertificatePath: String?
    /// PEM client certificate and key, for brokers that ask for one.
    public var certificatePath: String?
    public var keyPath: String?
    /// Verify the broker's certificate chain against the CA.
    public var verifyPeer: Bool?
    /// Verify that the certificate names the host we connected to.
    public var verifyHostname: Bool?

    public init(caCertificatePath: String? = nil, certificatePath: String? = nil, keyPath: String? = nil,
                verifyPeer: Bool? = nil, verifyHostname: Bool? = nil) {
        self.caCertificatePath = caCertificatePath
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.verifyPeer = verifyPeer
        self.verifyHostname = verifyHostname
    }

    /// These options with every unset field taken from `defaults`.
    func merged(over defaults: AMQPTLSOptions) -> AMQPTLSOptions {
        AMQPTLSOptions(caCertificatePath: caCertificatePath ?? defaults.caCertificatePath,
                       certificatePath: certificatePath ?? defaults.certificatePath,
                       keyPath: keyPath ?? defaults.keyPath,
                       verifyPeer: verifyPeer ?? defaults.verifyPeer,
                       verifyHostname: verifyHostname ?? defaults.verifyHostname)
    }
}

private struct URIParser {
    let url: String

    init(_ url: String) { self.url = url }

    func fail(_ why: String) -> AMQPError {
        // Never echo the input: it may hold a password.
        AMQPError(.invalidURL, why + " (expected amqp://user:password@host:port/vhost)")
    }

    func parse() throws(AMQPError) -> AMQPEndpoint {
        guard let schemeEnd = url.range(of: "://") else { throw fail("missing scheme") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "amqp" || scheme == "amqps" else {
            throw fail("unsupported scheme '\(scheme)', use amqp or amqps")
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var endpoint = AMQPEndpoint(tls: scheme == "amqps" ? AMQPTLSOptions() : nil)

        var hostPort = rest
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            hostPort = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                endpoint.user = try decode(userInfo[..<colon], "user name")
                endpoint.password = try decode(userInfo[userInfo.index(after: colon)...], "password")
            } else {
                endpoint.user = try decode(userInfo, "user name")
            }
        }

        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw fail("unclosed '[' in IPv6 host") }
            endpoint.host = try decode(hostPort[hostPort.index(after: hostPort.startIndex)..<close], "host")
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw fail("unexpected text after IPv6 host")
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            endpoint.host = try decode(hostPort[..<colon], "host")
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            endpoint.host = try decode(hostPort, "host")
        }
        if endpoint.host.isEmpty { endpoint.host = "localhost" }
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else {
                // Not quoted: in a URL with an unencoded '/' or '?' in the password, this is the password.
                throw fail("the port is not a number from 1 to 65535 (percent-encode '/', '?' and '@' in a password)")
            }
            endpoint.port = port
        }

        if path.isEmpty {
            endpoint.vhost = "/"
        } else {
            guard !path.contains("/") else { throw fail("vhost must be one path segment; write '/' as %2f") }
            endpoint.vhost = try decode(path, "vhost")
        }
        try applyQuery(query, to: &endpoint)
        return endpoint
    }

    func applyQuery(_ query: Substring, to endpoint: inout AMQPEndpoint) throws(AMQPError) {
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let key: String
            let value: String
            if let eq = pair.firstIndex(of: "=") {
                key = try decode(pair[..<eq], "query key")
                value = try decode(pair[pair.index(after: eq)...], "query value")
            } else {
                key = try decode(pair, "query key")
                value = ""
            }
            switch key {
            case "heartbeat":
                guard let seconds = Int(value), seconds >= 0 else { throw fail("heartbeat must be whole seconds") }
                endpoint.heartbeatSeconds = seconds
            case "connection_timeout":
                guard let ms = Int(value), ms > 0 else { throw fail("connection_timeout must be milliseconds > 0") }
                endpoint.connectTimeoutMilliseconds = ms
            case "cacertfile", "certfile", "keyfile", "verify", "verify_hostname":
                guard endpoint.tls != nil else { throw fail("'\(key)' only applies to amqps:// URLs") }
                switch key {
                case "cacertfile": endpoint.tls?.caCertificatePath = value
                case "certfile": endpoint.tls?.certificatePath = value
                case "keyfile": endpoint.tls?.keyPath = value
                case "verify":
                    guard value == "verify_peer" || value == "verify_none" else {
                        throw fail("verify must be verify_peer or verify_none")
                    }
                    endpoint.tls?.verifyPeer = value == "verify_peer"
                default:
                    guard value == "true" || value == "false" else { throw fail("verify_hostname must be true or false") }
                    endpoint.tls?.verifyHostname = value == "true"
                }
            default:
                throw fail("unknown query parameter '\(key)'")
            }
        }
    }

    func decode(_ text: Substring, _ what: String) throws(AMQPError) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard utf8.count >= 2, let hi = hexValue(utf8.popFirst()!), let lo = hexValue(utf8.popFirst()!) else {
                    throw fail("bad percent-escape in \(what)")
                }
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else { throw fail("\(what) is not UTF-8") }
        return decoded
    }

    func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

private func percentEncode(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
             UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }
    }
    return out
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension StringProtocol {
    fileprivate func trimmedWhitespace() -> Substring {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return s
    }
}
