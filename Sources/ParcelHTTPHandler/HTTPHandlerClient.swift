import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The HTTP client every HTTP stage handler of a worker shares, and the service that owns it: placed
/// in the worker's service group before the stage worker, it is shut down after the worker has
/// stopped (the last request answered), on a graceful stop or a cancellation alike.
///
/// The client is made at the first request, so a worker that fails before its group runs leaves no
/// client behind. TLS: the server's certificate is verified against the system's trust store, and
/// against the certificates of ``Settings/caFile`` as well when given (a private CA). Redirects are
/// not followed; answers are not decompressed.
public final class HTTPHandlerClient: Service, Sendable {
    public struct Settings: Sendable, Hashable {
        /// PEM certificates trusted besides the system's (`PARCELFLOW_HTTP_CA_FILE`).
        public var caFile: String?
        /// The longest wait for a connection (tried again while the service refuses it), within the
        /// task's deadline; past it the task fails with the last connection error.
        public var connectTimeout: Duration
        /// Connections kept to one service at once: the worker's tasks in flight, so that none waits
        /// for another's connection (async-http-client's own default, 8, caps a worker with 200 in
        /// flight at 8 requests at a time: 160 a second against a service answering in 50 ms).
        public var connectionsPerHost: Int

        public init(caFile: String? = nil, connectTimeout: Duration = .seconds(5), connectionsPerHost: Int = 8) {
            self.caFile = caFile
            self.connectTimeout = connectTimeout
            self.connectionsPerHost = min(max(connectionsPerHost, 1), 1024)
        }
    }

    private enum State {
        case idle
        case running(HTTPClient)
        case shutDown
    }

    private let settings: Settings
    private let tls: TLSConfiguration
    private let logger: Logger
    private let state = Mutex<State>(.idle)

    /// Checks the settings (a CA file that cannot be read is an error here, at start, naming the file).
    public init(settings: Settings = Settings(), logger: Logger) throws(HTTPHandlerClientError) {
        self.settings = settings
        self.logger = logger
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        if let path = settings.caFile {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(path)
            } catch {
                throw HTTPHandlerClientError("the CA file '\(path)' could not be read as PEM certificates: \(error)")
            }
            guard !certificates.isEmpty else { throw HTTPHandlerClientError("the CA file '\(path)' holds no certificate") }
            tls.additionalTrustRoots = [.certificates(certificates)]
        }
        self.tls = tls
    }

    /// The client, made at the first call; nil once shut down (the worker is stopping).
    func client() -> HTTPClient? {
        state.withLock { state in
            switch state {
            case .running(let client):
                return client
            case .shutDown:
                return nil
            case .idle:
                var configuration = HTTPClient.Configuration(
                    tlsConfiguration: tls, redirectConfiguration: .disallow,
                    timeout: .init(connect: timeAmount(settings.connectTimeout)),
                    decompression: .disabled)
                configuration.httpVersion = .automatic
                configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = settings.connectionsPerHost
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
                state = .running(client)
                return client
            }
        }
    }

    /// Runs until the group shuts down gracefully (after the stage worker), then shuts the client down.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Shuts the client down (its connections closed); later requests fail transiently. Idempotent.
    public func shutdown() async {
        let client = state.withLock { state -> HTTPClient? in
            defer { state = .shutDown }
            if case .running(let client) = state { return client }
            return nil
        }
        guard let client else { return }
        do {
            try await client.shutdown()
        } catch {
            logger.warning("the HTTP handlers' client did not shut down cleanly", metadata: ["error": "\(error)"])
        }
    }
}

public struct HTTPHandlerClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}
