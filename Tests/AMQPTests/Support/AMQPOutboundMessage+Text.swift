import AMQP
import Foundation
import ParcelTestSupport

extension AMQPOutboundMessage {
    static func text(_ text: String, to queue: String, properties: AMQPProperties = AMQPProperties(deliveryMode: 2)) -> AMQPOutboundMessage {
        AMQPOutboundMessage(routingKey: queue, body: Data(text.utf8), properties: properties)
    }
}
