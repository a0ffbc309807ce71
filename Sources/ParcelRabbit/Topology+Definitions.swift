import AMQP
import Foundation

extension ParcelTopology {
    /// The topology in RabbitMQ's definitions format (`rabbitmqctl import_definitions`, or the
    /// management UI), as JSON with sorted keys: `deploy/rabbitmq/definitions.json` is this output.
    public func definitionsJSON(vhost: String = "/") -> String {
        let document = Definitions(
            exchanges: exchanges.map {
                .init(name: $0.name, vhost: vhost, type: $0.type.rawValue, durable: true, auto_delete: false, internal: false,
                      arguments: [:])
            },
            queues: queues.map {
                .init(name: $0.name, vhost: vhost, durable: $0.options.durable, auto_delete: $0.options.autoDelete,
                      arguments: $0.options.arguments.mapValues(Argument.init))
            },
            bindings: bindings.map {
                .init(source: $0.exchange, vhost: vhost, destination: $0.queue, destination_type: "queue",
                      routing_key: $0.routingKey, arguments: [:])
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(document), as: UTF8.self) + "\n"
    }
}

// Field names are RabbitMQ's own.
private struct Definitions: Encodable {
    struct Exchange: Encodable {
        let name, vhost, type: String
        let durable, auto_delete, `internal`: Bool
        let arguments: [String: Argument]
    }

    struct Queue: Encodable {
        let name, vhost: String
        let durable, auto_delete: Bool
        let arguments: [String: Argument]
    }

    struct Binding: Encodable {
        let source, vhost, destination, destination_type, routing_key: String
        let arguments: [String: Argument]
    }

    let exchanges: [Exchange]
    let queues: [Queue]
    let bindings: [Binding]
}

private enum Argument: Encodable {
    case string(String), integer(Int64), bool(Bool)

    init(_ value: AMQPFieldValue) {
        switch value {
        case .bool(let b): self = .bool(b)
        default:
            if let i = value.intValue { self = .integer(Int64(i)) } else { self = .string(value.stringValue ?? "\(value)") }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let s): try container.encode(s)
        case .integer(let i): try container.encode(i)
        case .bool(let b): try container.encode(b)
        }
    }
}
