import NIOCore
import PostgresNIO

/// A one-dimensional `text[]` or `bigint[]` parameter whose elements may be NULL, which postgres-nio's
/// own arrays cannot hold. The store sends a whole batch's column as one of these and reads it back
/// with `unnest`, so a batch is one statement, not one per parcel.
///
/// The binary array format: dimensions, whether any element is NULL, the element type, then for the
/// one dimension its length and lower bound, then each element as a length (-1 for NULL) and bytes.
struct NullableArray: PostgresDynamicTypeEncodable {
    private enum Elements {
        case texts([String?])
        case integers([Int64?])
    }

    private let elements: Elements

    static func texts(_ values: [String?]) -> NullableArray { NullableArray(elements: .texts(values)) }
    static func integers(_ values: [Int64?]) -> NullableArray { NullableArray(elements: .integers(values)) }

    var psqlType: PostgresDataType {
        switch elements {
        case .texts: .textArray
        case .integers: .int8Array
        }
    }

    var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        switch elements {
        case .texts(let values):
            Self.writeHeader(count: values.count, hasNulls: values.contains(nil), element: .text, into: &buffer)
            for value in values {
                guard let value else {
                    buffer.writeInteger(-1, as: Int32.self)
                    continue
                }
                let lengthIndex = buffer.writerIndex
                buffer.writeInteger(0, as: Int32.self)
                let written = buffer.writeString(value)
                buffer.setInteger(Int32(written), at: lengthIndex)
            }
        case .integers(let values):
            Self.writeHeader(count: values.count, hasNulls: values.contains(nil), element: .int8, into: &buffer)
            for value in values {
                guard let value else {
                    buffer.writeInteger(-1, as: Int32.self)
                    continue
                }
                buffer.writeInteger(8, as: Int32.self)
                buffer.writeInteger(value, as: Int64.self)
            }
        }
    }

    private static func writeHeader(count: Int, hasNulls: Bool, element: PostgresDataType, into buffer: inout ByteBuffer) {
        // An empty array has no dimensions.
        buffer.writeInteger(count == 0 ? 0 : 1, as: Int32.self)
        buffer.writeInteger(hasNulls ? 1 : 0, as: Int32.self)
        buffer.writeInteger(element.rawValue, as: UInt32.self)
        guard count > 0 else { return }
        buffer.writeInteger(Int32(count), as: Int32.self)
        buffer.writeInteger(1, as: Int32.self)
    }
}
