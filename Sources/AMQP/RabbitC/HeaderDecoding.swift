import Foundation
internal import CRabbitMQ

/// The decoding every content header's table goes through on the connection thread — rabbitmq-c's, then
/// ours with its bounds — callable on its own, for tests and fuzzing.
package enum AMQPHeaderDecoding {
    /// What came of decoding one encoded field table (its 4-byte length first, as on the wire).
    package enum Outcome: Sendable, Equatable {
        case table(AMQPTable)
        case refused(AMQPDelivery.Refusal)
        /// rabbitmq-c found the bytes malformed; on a connection that ends the connection.
        case malformed
    }

    package static func decode(_ encoded: [UInt8]) -> Outcome {
        var pool = amqp_pool_t()
        init_amqp_pool(&pool, 4096)
        defer { empty_amqp_pool(&pool) }
        return encoded.withUnsafeBytes { raw -> Outcome in
            var table = amqp_table_t()
            var offset = 0
            let bytes = amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            guard raw.count >= 4, amqp_decode_table(bytes, &pool, &table, &offset) == AMQP_STATUS_OK.rawValue else {
                return .malformed
            }
            if let refusal = CDecode.refusal(table) { return .refused(refusal) }
            return .table(CDecode.table(table))
        }
    }

    /// The stack a connection thread gets for frames of up to `frameMax` bytes.
    package static func threadStackSize(frameMax: Int) -> Int { ConnectionLoop.stackSize(frameMax: frameMax) }
}
