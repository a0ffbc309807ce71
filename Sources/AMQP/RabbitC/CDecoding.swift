import Foundation
internal import CRabbitMQ

// Copies of what rabbitmq-c decoded into its frame pools: everything is turned into Swift values at
// once, so the pools can be released after each read burst.

extension amqp_bytes_t {
    var string: String {
        guard len > 0, let bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: len), as: UTF8.self)
    }

    var byteArray: [UInt8] {
        guard len > 0, let bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: len))
    }
}

enum CDecode {
    static func table(_ table: amqp_table_t) -> AMQPTable {
        var result: AMQPTable = [:]
        guard table.num_entries > 0, let entries = table.entries else { return result }
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            result[entry.key.string] = fieldValue(entry.value)
        }
        return result
    }

    static func fieldValue(_ field: amqp_field_value_t) -> AMQPFieldValue {
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: .bool(field.value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: .int8(field.value.i8)
        case AMQP_FIELD_KIND_U8.rawValue: .uint8(field.value.u8)
        case AMQP_FIELD_KIND_I16.rawValue: .int16(field.value.i16)
        case AMQP_FIELD_KIND_U16.rawValue: .uint16(field.value.u16)
        case AMQP_FIELD_KIND_I32.rawValue: .int32(field.value.i32)
        case AMQP_FIELD_KIND_U32.rawValue: .uint32(field.value.u32)
        case AMQP_FIELD_KIND_I64.rawValue: .int64(field.value.i64)
        case AMQP_FIELD_KIND_U64.rawValue: .uint64(field.value.u64)
        case AMQP_FIELD_KIND_F32.rawValue: .float(field.value.f32)
        case AMQP_FIELD_KIND_F64.rawValue: .double(field.value.f64)
        case AMQP_FIELD_KIND_DECIMAL.rawValue:
            .decimal(scale: field.value.decimal.decimals, value: field.value.decimal.value)
        case AMQP_FIELD_KIND_UTF8.rawValue: .string(field.value.bytes.string)
        case AMQP_FIELD_KIND_BYTES.rawValue: .bytes(field.value.bytes.byteArray)
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue: .timestamp(field.value.u64)
        case AMQP_FIELD_KIND_TABLE.rawValue: .table(table(field.value.table))
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            .array((0..<Int(field.value.array.num_entries)).map { fieldValue(field.value.array.entries[$0]) })
        default: .void
        }
    }

    /// Why `table` may not become Swift values, or nil when it is within ``AMQPLimits``: walked with a
    /// stack of its own, so a hostile depth costs no recursion here (``table(_:)`` then recurses at most
    /// ``AMQPLimits/maxHeaderDepth`` levels).
    static func refusal(_ table: amqp_table_t) -> AMQPDelivery.Refusal? {
        enum Node {
            case table(amqp_table_t)
            case array(amqp_array_t)
        }
        var pending: [(node: Node, depth: Int)] = [(.table(table), 1)]
        var entries = 0
        while let (node, depth) = pending.popLast() {
            let values: [amqp_field_value_t]
            switch node {
            case .table(let t):
                entries += Int(max(0, t.num_entries))
                guard entries <= AMQPLimits.maxHeaderEntries else { return .tooManyHeaders(limit: AMQPLimits.maxHeaderEntries) }
                values = t.entries.map { entries in (0..<Int(t.num_entries)).map { entries[$0].value } } ?? []
            case .array(let a):
                entries += Int(max(0, a.num_entries))
                guard entries <= AMQPLimits.maxHeaderEntries else { return .tooManyHeaders(limit: AMQPLimits.maxHeaderEntries) }
                values = a.entries.map { entries in (0..<Int(a.num_entries)).map { entries[$0] } } ?? []
            }
            for value in values {
                let child: Node
                switch UInt32(value.kind) {
                case AMQP_FIELD_KIND_TABLE.rawValue: child = .table(value.value.table)
                case AMQP_FIELD_KIND_ARRAY.rawValue: child = .array(value.value.array)
                default: continue
                }
                guard depth < AMQPLimits.maxHeaderDepth else { return .headersTooDeep(limit: AMQPLimits.maxHeaderDepth) }
                pending.append((child, depth + 1))
            }
        }
        return nil
    }

    /// A message's properties; headers beyond ``AMQPLimits`` are left out, and the refusal says why.
    static func properties(_ c: amqp_basic_properties_t) -> (AMQPProperties, AMQPDelivery.Refusal?) {
        let flags = c._flags
        func has(_ flag: Int32) -> Bool { flags & UInt32(flag) != 0 }
        var p = AMQPProperties()
        var refused: AMQPDelivery.Refusal?
        if has(AMQP_BASIC_CONTENT_TYPE_FLAG) { p.contentType = c.content_type.string }
        if has(AMQP_BASIC_CONTENT_ENCODING_FLAG) { p.contentEncoding = c.content_encoding.string }
        if has(AMQP_BASIC_HEADERS_FLAG) {
            refused = refusal(c.headers)
            if refused == nil { p.headers = table(c.headers) }
        }
        if has(AMQP_BASIC_DELIVERY_MODE_FLAG) { p.deliveryMode = c.delivery_mode }
        if has(AMQP_BASIC_PRIORITY_FLAG) { p.priority = c.priority }
        if has(AMQP_BASIC_CORRELATION_ID_FLAG) { p.correlationID = c.correlation_id.string }
        if has(AMQP_BASIC_REPLY_TO_FLAG) { p.replyTo = c.reply_to.string }
        if has(AMQP_BASIC_EXPIRATION_FLAG) { p.expiration = c.expiration.string }
        if has(AMQP_BASIC_MESSAGE_ID_FLAG) { p.messageID = c.message_id.string }
        if has(AMQP_BASIC_TIMESTAMP_FLAG) { p.timestamp = c.timestamp }
        if has(AMQP_BASIC_TYPE_FLAG) { p.type = c.type.string }
        if has(AMQP_BASIC_USER_ID_FLAG) { p.userID = c.user_id.string }
        if has(AMQP_BASIC_APP_ID_FLAG) { p.appID = c.app_id.string }
        return (p, refused)
    }
}
