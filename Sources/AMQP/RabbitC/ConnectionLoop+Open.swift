import Foundation
internal import CRabbitMQ

extension ConnectionLoop {
    /// Opens the socket (TCP or TLS) and performs the AMQP handshake with one endpoint.
    static func open(_ endpoint: AMQPEndpoint, _ configuration: AMQPConfiguration) throws(AMQPError) -> amqp_connection_state_t {
        let context = "connecting to \(endpoint)"
        guard let connection = amqp_new_connection() else {
            throw AMQPError(.protocolError, "out of memory", context: context)
        }
        var established = false
        defer { if !established { amqp_destroy_connection(connection) } }

        let socket: OpaquePointer?
        if let endpointTLS = endpoint.tls {
            socket = try tlsSocket(connection, endpointTLS.merged(over: configuration.tls), context)
        } else {
            socket = amqp_tcp_socket_new(connection)
        }
        guard let socket else { throw AMQPError(.protocolError, "cannot create a socket", context: context) }

        let timeoutMilliseconds = endpoint.connectTimeoutMilliseconds ?? configuration.connectTimeout.milliseconds
        var timeout = timeval(milliseconds: timeoutMilliseconds)
        let status = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &timeout)
        guard CStatus.isOK(status) else {
            throw connectError(status, endpoint, timeoutMilliseconds, context)
        }

        var handshakeTimeout = timeval(milliseconds: timeoutMilliseconds)
        amqp_set_handshake_timeout(connection, &handshakeTimeout)
        var requestTimeout = timeval(milliseconds: configuration.requestTimeout.milliseconds)
        amqp_set_rpc_timeout(connection, &requestTimeout)

        let arena = CArena()
        var properties = arena.table([
            "amqp.connection_name": .string(configuration.connectionName),
            "product": "ParcelFlow",
            // Replaces rabbitmq-c's default capabilities: consumer_cancel_notify makes the broker tell a
            // consumer that its queue was deleted, instead of leaving it waiting forever.
            "capabilities": .table([
                "authentication_failure_close": true, "consumer_cancel_notify": true, "publisher_confirms": true,
                "basic.nack": true, "connection.blocked": true, "exchange_exchange_bindings": true,
                "per_consumer_qos": true,
            ]),
        ])
        let heartbeat = endpoint.heartbeatSeconds ?? Int(configuration.heartbeat.components.seconds)
        let reply = CRabbitMQ_login_plain(connection, endpoint.vhost, 0, Int32(configuration.boundedFrameMax),
                                          Int32(heartbeat), &properties, endpoint.user, endpoint.password)
        if var error = CStatus.error(reply, context) {
            if error.replyCode == 403 {
                error.code = .authenticationFailed
            } else if error.code == .timedOut {
                error.message = "the broker did not complete the AMQP handshake within \(timeoutMilliseconds) ms"
            }
            throw error
        }
        established = true
        return connection
    }

    private static func tlsSocket(_ connection: amqp_connection_state_t, _ tls: AMQPTLSOptions,
                                  _ context: String) throws(AMQPError) -> OpaquePointer? {
        guard let socket = amqp_ssl_socket_new(connection) else { return nil }
        if let ca = tls.caCertificatePath, !CStatus.isOK(amqp_ssl_socket_set_cacert(socket, ca)) {
            throw AMQPError(.tlsFailure, "cannot read the CA certificate file '\(ca)'", context: context)
        }
        if let certificate = tls.certificatePath {
            let key = tls.keyPath ?? certificate
            guard CStatus.isOK(amqp_ssl_socket_set_key(socket, certificate, key)) else {
                throw AMQPError(.tlsFailure, "cannot read the client certificate '\(certificate)' or key '\(key)'",
                                context: context)
            }
        }
        amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ?? true ? 1 : 0)
        amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ?? true ? 1 : 0)
        return socket
    }

    private static func connectError(_ status: Int32, _ endpoint: AMQPEndpoint, _ timeoutMilliseconds: Int,
                                     _ context: String) -> AMQPError {
        let place = "\(endpoint.host):\(endpoint.port)"
        if status == AMQP_STATUS_TIMEOUT.rawValue {
            return AMQPError(.timedOut, "no answer from \(place) within \(timeoutMilliseconds) ms", context: context)
        }
        if status == AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED.rawValue {
            return AMQPError(.unreachable, "cannot resolve host name '\(endpoint.host)'", context: context)
        }
        guard status == AMQP_STATUS_SOCKET_ERROR.rawValue || status == AMQP_STATUS_TCP_ERROR.rawValue else {
            return CStatus.error(status, context)
        }
        switch CStatus.probeConnectErrno(host: endpoint.host, port: endpoint.port,
                                         timeoutMilliseconds: timeoutMilliseconds) {
        case ECONNREFUSED:
            return AMQPError(.connectionRefused, "nothing accepts connections on \(place)", context: context)
        case EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL:
            return AMQPError(.unreachable, "no route to \(place)", context: context)
        case ETIMEDOUT:
            return AMQPError(.timedOut, "no answer from \(place) within \(timeoutMilliseconds) ms", context: context)
        case let code?:
            return AMQPError(.connectionLost, String(cString: strerror(code)), context: context)
        case nil:
            return CStatus.error(status, context)
        }
    }
}

extension timeval {
    init(milliseconds: Int) {
        self.init(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
    }
}
