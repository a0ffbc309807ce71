import Foundation
import Hummingbird
import Logging
import NIOCore

/// Where an HTTP endpoint listens. Loopback unless a person chose otherwise.
public struct HTTPAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    /// 0: any free port (the one taken is reported once listening).
    public var port: Int

    public init(host: String = "127.0.0.1", port: Int) {
        self.host = host
        self.port = port
    }

    /// True for "localhost" and for the addresses 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104: only
    /// this machine can reach it. The address is parsed, not matched as text: `127.example.com` is a
    /// name that may resolve anywhere, so it is not loopback.
    public var isLoopback: Bool {
        if host.lowercased() == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { $0[0] == 127 }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        return withUnsafeBytes(of: &v6) { bytes in
            let loopback = bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1
            let mapped = bytes.prefix(10).allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
            return loopback || mapped
        }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Runs a router until the calling task is cancelled; `listening` learns the port actually bound.
func serve(_ router: Router<BasicRequestContext>, at address: HTTPAddress, logger: Logger,
           listening: @escaping @Sendable (Int) -> Void) async throws {
    let app = Application(
        router: router,
        configuration: .init(address: .hostname(address.host, port: address.port), serverName: "ParcelFlow"),
        onServerRunning: { channel in listening(channel.localAddress?.port ?? address.port) },
        logger: logger)
    try await app.run()
}

extension Response {
    static func text(_ text: String, status: HTTPResponse.Status = .ok,
                     contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: contentType, .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
