import Foundation

/// An AMQP field table: message headers, queue and exchange arguments, client properties.
public typealias AMQPTable = [String: AMQPFieldValue]

/// One value in an ``AMQPTable``, with the AMQP 0-9-1 type it travels as.
///
/// Integers written as literals travel as 64-bit signed (`l`), which RabbitMQ accepts for every
/// numeric argument (`x-message-ttl`, `x-delivery-limit`, `x-max-length`…).
public enum AMQPFieldValue: Sendable, Hashable {
    case bool(Bool)
    case int8(Int8)
    case uint8(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    case decimal(scale: UInt8, value: UInt32)
    case string(String)
    case bytes([UInt8])
    case array([AMQPFieldValue])
    case table(AMQPTable)
    /// Seconds since the Unix epoch, as AMQP timestamps are.
    case timestamp(UInt64)
    case void

    /// The value as a Swift integer when it is any integer kind.
    public var intValue: Int? {
        switch self {
        case .int8(let v): Int(v)
        case .uint8(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int64(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        default: nil
        }
    }

    /// The value as a string when it is a string (or UTF-8 bytes).
    public var stringValue: String? {
        switch self {
        case .string(let s): s
        case .bytes(let b): String(validating: b, as: UTF8.self)
        default: nil
        }
    }

    public var tableValue: AMQPTable? {
        if case .table(let t) = self { t } else { nil }
    }

    public var arrayValue: [AMQPFieldValue]? {
        if case .array(let a) = self { a } else { nil }
    }
}

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int64(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
}
