import Foundation

// What rabbitmq-c would refuse to encode, found before anything is written. rabbitmq-c sends a
// publish's method frame before it encodes the content header, so a header it then refuses leaves
// the broker waiting for a frame that never comes, and the connection is lost. Checked here, such a
// message fails alone.

extension AMQPOutboundMessage {
    /// Why this message cannot be sent on a connection with frames of `frameMax` bytes, or nil.
    func encodingProblem(frameMax: Int) -> String? {
        if exchange.utf8.count > 255 { return "the exchange is \(exchange.utf8.count) bytes long (at most 255)" }
        if routingKey.utf8.count > 255 { return "the routing key is \(routingKey.utf8.count) bytes long (at most 255)" }
        if let problem = properties.shortStringProblem { return problem }
        // Frame: type, channel, size, end (8 bytes); header: class, weight, body size, flags (14 bytes).
        let header = 8 + 14 + properties.encodedSize
        guard header <= frameMax else {
            return "its properties take \(header) bytes, more than a frame of \(frameMax) bytes holds"
        }
        return nil
    }
}

extension AMQPProperties {
    /// Calls `body` with each short-string property that is set, by its name. Not a list built per
    /// message: every publish checks and sizes its properties, and doing so through such lists was a
    /// third of the submitter's publishing CPU.
    fileprivate func forEachShortString(_ body: (_ name: String, _ value: String) -> Void) {
        if let contentType { body("content type", contentType) }
        if let contentEncoding { body("content encoding", contentEncoding) }
        if let correlationID { body("correlation id", correlationID) }
        if let replyTo { body("reply-to", replyTo) }
        if let expiration { body("expiration", expiration) }
        if let messageID { body("message id", messageID) }
        if let type { body("type", type) }
        if let userID { body("user id", userID) }
        if let appID { body("app id", appID) }
    }

    fileprivate var shortStringProblem: String? {
        var problem: String?
        forEachShortString { name, value in
            if problem == nil, value.utf8.count > 255 { problem = "the \(name) property is \(value.utf8.count) bytes long (at most 255)" }
        }
        if let problem { return problem }
        for key in (headers ?? [:]).keys where key.utf8.count > 255 {
            return "a header name is \(key.utf8.count) bytes long (at most 255)"
        }
        return nil
    }

    /// Bytes the properties take in a content header.
    var encodedSize: Int {
        var size = 0
        forEachShortString { _, value in size += 1 + value.utf8.count }
        if let headers { size += AMQPFieldValue.table(headers).encodedSize - 1 }
        if deliveryMode != nil { size += 1 }
        if priority != nil { size += 1 }
        if timestamp != nil { size += 8 }
        return size
    }
}

extension AMQPFieldValue {
    /// Bytes this value takes in a field table, its type tag included. Our own outbound values: their
    /// depth is what this program made, so plain recursion.
    var encodedSize: Int {
        switch self {
        case .bool, .int8, .uint8: 2
        case .int16, .uint16: 3
        case .int32, .uint32, .float: 5
        case .int64, .uint64, .double, .timestamp: 9
        case .decimal: 6
        case .string(let s): 5 + s.utf8.count
        case .bytes(let b): 5 + b.count
        case .array(let values): 5 + values.reduce(0) { $0 + $1.encodedSize }
        case .table(let table): 5 + table.reduce(0) { $0 + 1 + $1.key.utf8.count + $1.value.encodedSize }
        case .void: 1
        }
    }
}
