internal import CRabbitMQ

/// Memory for the C structures of one outbound batch (strings, tables, properties).
///
/// rabbitmq-c reads `amqp_bytes_t` and tables only during the call that sends them, so everything
/// lives in bump-allocated blocks that are reset after each batch: no per-field malloc on the hot path.
/// Owned by the connection thread.
final class CArena {
    private var blocks: [(pointer: UnsafeMutableRawPointer, size: Int)] = []
    private var current = 0
    private var offset = 0
    private static let blockSize = 64 * 1024

    deinit {
        for block in blocks { block.pointer.deallocate() }
    }

    func allocate(_ size: Int, alignment: Int = 8) -> UnsafeMutableRawPointer {
        while current < blocks.count {
            let aligned = (offset + alignment - 1) & ~(alignment - 1)
            if aligned + size <= blocks[current].size {
                offset = aligned + size
                return blocks[current].pointer + aligned
            }
            current += 1
            offset = 0
        }
        let blockSize = max(Self.blockSize, size)
        blocks.append((UnsafeMutableRawPointer.allocate(byteCount: blockSize, alignment: 16), blockSize))
        current = blocks.count - 1
        offset = size
        return blocks[current].pointer
    }

    /// Forgets all allocations, keeping the first block for the next batch.
    func reset() {
        if blocks.count > 1 {
            for block in blocks.dropFirst() { block.pointer.deallocate() }
            blocks.removeSubrange(1...)
        }
        current = 0
        offset = 0
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        var string = string
        return string.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    func bytes(_ buffer: UnsafeRawBufferPointer) -> amqp_bytes_t {
        guard buffer.count > 0, let base = buffer.baseAddress else { return amqp_bytes_t(len: 0, bytes: nil) }
        let memory = allocate(buffer.count, alignment: 1)
        memory.copyMemory(from: base, byteCount: buffer.count)
        return amqp_bytes_t(len: buffer.count, bytes: memory)
    }

    func table(_ table: AMQPTable) -> amqp_table_t {
        guard !table.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let entries = allocate(MemoryLayout<amqp_table_entry_t>.stride * table.count)
            .bindMemory(to: amqp_table_entry_t.self, capacity: table.count)
        // Sorted keys: the same table always encodes to the same bytes.
        for (index, key) in table.keys.sorted().enumerated() {
            (entries + index).initialize(to: amqp_table_entry_t(key: bytes(key), value: fieldValue(table[key]!)))
        }
        return amqp_table_t(num_entries: Int32(table.count), entries: entries)
    }

    func fieldValue(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        func kind(_ k: amqp_field_value_kind_t) -> UInt8 { UInt8(k.rawValue) }
        switch value {
        case .bool(let v): field.kind = kind(AMQP_FIELD_KIND_BOOLEAN); field.value.boolean = v ? 1 : 0
        case .int8(let v): field.kind = kind(AMQP_FIELD_KIND_I8); field.value.i8 = v
        case .uint8(let v): field.kind = kind(AMQP_FIELD_KIND_U8); field.value.u8 = v
        case .int16(let v): field.kind = kind(AMQP_FIELD_KIND_I16); field.value.i16 = v
        case .uint16(let v): field.kind = kind(AMQP_FIELD_KIND_U16); field.value.u16 = v
        case .int32(let v): field.kind = kind(AMQP_FIELD_KIND_I32); field.value.i32 = v
        case .uint32(let v): field.kind = kind(AMQP_FIELD_KIND_U32); field.value.u32 = v
        case .int64(let v): field.kind = kind(AMQP_FIELD_KIND_I64); field.value.i64 = v
        case .uint64(let v): field.kind = kind(AMQP_FIELD_KIND_U64); field.value.u64 = v
        case .float(let v): field.kind = kind(AMQP_FIELD_KIND_F32); field.value.f32 = v
        case .double(let v): field.kind = kind(AMQP_FIELD_KIND_F64); field.value.f64 = v
        case .decimal(let scale, let v):
            field.kind = kind(AMQP_FIELD_KIND_DECIMAL)
            field.value.decimal = amqp_decimal_t(decimals: scale, value: v)
        case .string(let s): field.kind = kind(AMQP_FIELD_KIND_UTF8); field.value.bytes = bytes(s)
        case .bytes(let b):
            field.kind = kind(AMQP_FIELD_KIND_BYTES)
            field.value.bytes = b.withUnsafeBytes { bytes($0) }
        case .timestamp(let t): field.kind = kind(AMQP_FIELD_KIND_TIMESTAMP); field.value.u64 = t
        case .table(let t): field.kind = kind(AMQP_FIELD_KIND_TABLE); field.value.table = table(t)
        case .array(let items):
            field.kind = kind(AMQP_FIELD_KIND_ARRAY)
            let entries = allocate(MemoryLayout<amqp_field_value_t>.stride * max(items.count, 1))
                .bindMemory(to: amqp_field_value_t.self, capacity: max(items.count, 1))
            for (index, item) in items.enumerated() { (entries + index).initialize(to: fieldValue(item)) }
            field.value.array = amqp_array_t(num_entries: Int32(items.count), entries: items.isEmpty ? nil : entries)
        case .void: field.kind = kind(AMQP_FIELD_KIND_VOID)
        }
        return field
    }

    func properties(_ p: AMQPProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: UInt32 = 0
        func set(_ value: String?, _ flag: Int32, _ field: inout amqp_bytes_t) {
            guard let value else { return }
            field = bytes(value)
            flags |= UInt32(flag)
        }
        set(p.contentType, AMQP_BASIC_CONTENT_TYPE_FLAG, &c.content_type)
        set(p.contentEncoding, AMQP_BASIC_CONTENT_ENCODING_FLAG, &c.content_encoding)
        set(p.correlationID, AMQP_BASIC_CORRELATION_ID_FLAG, &c.correlation_id)
        set(p.replyTo, AMQP_BASIC_REPLY_TO_FLAG, &c.reply_to)
        set(p.expiration, AMQP_BASIC_EXPIRATION_FLAG, &c.expiration)
        set(p.messageID, AMQP_BASIC_MESSAGE_ID_FLAG, &c.message_id)
        set(p.type, AMQP_BASIC_TYPE_FLAG, &c.type)
        set(p.userID, AMQP_BASIC_USER_ID_FLAG, &c.user_id)
        set(p.appID, AMQP_BASIC_APP_ID_FLAG, &c.app_id)
        if let headers = p.headers {
            c.headers = table(headers)
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        if let mode = p.deliveryMode {
            c.delivery_mode = mode
            flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        }
        if let priority = p.priority {
            c.priority = priority
            flags |= UInt32(AMQP_BASIC_PRIORITY_FLAG)
        }
        if let timestamp = p.timestamp {
            c.timestamp = timestamp
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        c._flags = flags
        return c
    }
}
