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

    /// True for 127.0.0.0/8, ::1 and "localhost": only this machine can reach it.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
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
