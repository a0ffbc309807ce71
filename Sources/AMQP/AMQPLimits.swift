/// Bounds on what a peer may make this process hold. Everything a message carries comes from whoever
/// could publish it, so sizes and depths are checked against these before anything is assembled.
public enum AMQPLimits {
    /// The largest body a consumer takes unless told otherwise: a ParcelFlow task is about 1 KB.
    /// A larger delivery is never assembled in memory (its body frames are skipped); the consumer gets
    /// it without a body, with ``AMQPDelivery/refusal`` saying why.
    public static let defaultMaxBodySize = 256 * 1024
    /// Field tables (message headers) nested deeper than this are refused before they become Swift values.
    public static let maxHeaderDepth = 16
    /// Field tables with more entries than this, counting every nested table and array, are refused.
    public static let maxHeaderEntries = 1000
    /// The largest frame this client asks for. The connection thread's stack is sized from it: rabbitmq-c
    /// decodes nested tables by recursion, up to one level per five bytes of a frame.
    public static let maxFrameSize = 1 << 20
}

extension AMQPDelivery {
    /// Why a delivery arrived without its body or its headers: the peer sent more than the limits allow.
    public enum Refusal: Sendable, Hashable, CustomStringConvertible {
        /// The announced body is larger than the consumer's limit; its frames were skipped.
        case bodyTooLarge(size: Int, limit: Int)
        /// The headers nest deeper than ``AMQPLimits/maxHeaderDepth``.
        case headersTooDeep(limit: Int)
        /// The headers hold more than ``AMQPLimits/maxHeaderEntries`` entries.
        case tooManyHeaders(limit: Int)

        public var description: String {
            switch self {
            case .bodyTooLarge(let size, let limit): "body of \(size) bytes is larger than the limit (\(limit) bytes)"
            case .headersTooDeep(let limit): "headers are nested deeper than \(limit) levels"
            case .tooManyHeaders(let limit): "headers hold more than \(limit) entries"
            }
        }
    }
}
