import Foundation
internal import CRabbitMQ

/// The one place where rabbitmq-c's status codes and RPC replies become ``AMQPError``s.
enum CStatus {
    static func isOK(_ status: Int32) -> Bool { status == AMQP_STATUS_OK.rawValue }

    /// An error for a library status code (`amqp_status_enum`).
    static func error(_ status: Int32, _ context: String) -> AMQPError {
        let text = String(cString: amqp_error_string2(status))
        let code: AMQPError.Code
        switch status {
        case AMQP_STATUS_TIMEOUT.rawValue: code = .timedOut
        case AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue: code = .heartbeatMissed
        case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED.rawValue: code = .unreachable
        case AMQP_STATUS_CONNECTION_CLOSED.rawValue, AMQP_STATUS_SOCKET_CLOSED.rawValue,
             AMQP_STATUS_SOCKET_ERROR.rawValue, AMQP_STATUS_TCP_ERROR.rawValue:
            code = .connectionLost
        case AMQP_STATUS_SSL_ERROR.rawValue, AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue,
             AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue, AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue,
             AMQP_STATUS_SSL_SET_ENGINE_FAILED.rawValue:
            code = .tlsFailure
        default: code = .protocolError
        }
        return AMQPError(code, text, context: context)
    }

    /// An error for an RPC reply, or nil when it is a normal reply.
    static func error(_ reply: amqp_rpc_reply_t, _ context: String) -> AMQPError? {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return nil
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return error(reply.library_error, context)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            return serverError(reply.reply, context)
        default:
            return AMQPError(.protocolError, "no reply from the library", context: context)
        }
    }

    /// An error for a `connection.close` or `channel.close` the broker sent.
    static func serverError(_ method: amqp_method_t, _ context: String) -> AMQPError {
        switch method.id {
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            return AMQPError(.connectionClosedByBroker, close.reply_text.string, replyCode: close.reply_code,
                             context: context)
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            return AMQPError(.channelClosedByBroker, close.reply_text.string, replyCode: close.reply_code,
                             context: context)
        default:
            return AMQPError(.protocolError, String(format: "unexpected method 0x%08x", method.id), context: context)
        }
    }

    /// The errno of a failed TCP connect, found by trying once more: rabbitmq-c reports every connect
    /// failure as one status, and "nothing listens there" deserves a different message than "no route".
    static func probeConnectErrno(host: String, port: Int, timeoutMilliseconds: Int) -> Int32? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        var lastError: Int32?
        var current: UnsafeMutablePointer<addrinfo>? = first
        while let info = current {
            current = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return nil }
            guard errno == EINPROGRESS else { lastError = errno; continue }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&pfd, 1, Int32(timeoutMilliseconds)) == 1 else { lastError = ETIMEDOUT; continue }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            if soError == 0 { return nil }
            lastError = soError
        }
        return lastError
    }
}
