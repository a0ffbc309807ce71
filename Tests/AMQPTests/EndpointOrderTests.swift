@testable import AMQP
import Testing

/// Pure-logic tests for `EndpointOrder`: which node a connect tries first. No broker.
@Suite("Endpoint order")
struct EndpointOrderTests {
    let nodes = [1, 2, 3].map { AMQPEndpoint(host: "node\($0)", port: 5672) }

    func hosts(_ endpoints: [AMQPEndpoint]) -> [String] { endpoints.map(\.host) }

    @Test("each connect starts one node further along, so connections spread and a reconnect goes elsewhere first")
    func rotates() {
        let order = EndpointOrder(start: 0)
        #expect(hosts(order.order(nodes, .rotating)) == ["node1", "node2", "node3"])
        #expect(hosts(order.order(nodes, .rotating)) == ["node2", "node3", "node1"])
        #expect(hosts(order.order(nodes, .rotating)) == ["node3", "node1", "node2"])
        #expect(hosts(order.order(nodes, .rotating)) == ["node1", "node2", "node3"])
    }

    @Test("a node that failed lately is tried after the others, until avoidFor has passed")
    func failedNodesLast() {
        let order = EndpointOrder(start: 0, avoidFor: .seconds(30))
        let now = ContinuousClock.now
        order.failed(nodes[0], now: now)
        #expect(hosts(order.order(nodes, .rotating, now: now)) == ["node2", "node3", "node1"])
        #expect(hosts(order.order(nodes, .rotating, now: now + .seconds(10))) == ["node2", "node3", "node1"])
        order.failed(nodes[1], now: now + .seconds(10))
        #expect(hosts(order.order(nodes, .rotating, now: now + .seconds(11))) == ["node3", "node1", "node2"])
        // node1's failure is old now; node2's is not.
        #expect(hosts(order.order(nodes, .rotating, now: now + .seconds(31))) == ["node1", "node3", "node2"])
        order.succeeded(nodes[1])
        #expect(hosts(order.order(nodes, .rotating, now: now + .seconds(32))) == ["node2", "node3", "node1"])
    }

    @Test("in order means in order: the first node is preferred whatever happened")
    func inOrder() {
        let order = EndpointOrder(start: 5)
        order.failed(nodes[0])
        #expect(hosts(order.order(nodes, .inOrder)) == ["node1", "node2", "node3"])
        #expect(hosts(order.order([nodes[0]], .rotating)) == ["node1"])
    }
}
