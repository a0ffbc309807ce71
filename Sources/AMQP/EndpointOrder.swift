import Synchronization

/// How a connection chooses among several endpoints (a cluster's nodes).
public enum EndpointSelection: Sendable, Hashable {
    /// Each connect starts one node further along the list than the process's previous connect (the
    /// first from a random node), and nodes that failed lately are tried last. Connections spread over
    /// the nodes, and a reconnect goes first to a node other than the one just lost.
    case rotating
    /// Always in the order given: the first node is preferred, the others are fallbacks.
    case inOrder
}

/// The order in which the process's connections try a cluster's nodes (``EndpointSelection``).
///
/// A node whose connect failed, or whose connection was lost, within ``avoidFor`` is tried only
/// after the others: with one node down, connecting pays for it (a refused connection, or a whole
/// connect timeout for a host that is gone) at most once per ``avoidFor``, not on every reconnect.
/// Shared by all connections of the process; the clock is passed in, so it is tested without one.
final class EndpointOrder: Sendable {
    static let shared = EndpointOrder(start: Int.random(in: 0..<1_000_000))

    /// How long a node that failed is put after the others.
    let avoidFor: Duration

    private struct State {
        var next: Int
        var failedAt: [String: ContinuousClock.Instant] = [:]
    }

    private let state: Mutex<State>

    init(start: Int, avoidFor: Duration = .seconds(30)) {
        state = Mutex(State(next: start))
        self.avoidFor = avoidFor
    }

    /// The endpoints in the order to try them now.
    func order(_ endpoints: [AMQPEndpoint], _ selection: EndpointSelection,
               now: ContinuousClock.Instant = .now) -> [AMQPEndpoint] {
        guard endpoints.count > 1, selection == .rotating else { return endpoints }
        return state.withLock { state in
            let start = state.next % endpoints.count
            state.next = state.next == Int.max ? 0 : state.next + 1
            let rotated = endpoints[start...] + endpoints[..<start]
            let avoidFor = avoidFor
            func recentlyFailed(_ endpoint: AMQPEndpoint) -> Bool {
                guard let at = state.failedAt[Self.key(endpoint)] else { return false }
                return now - at < avoidFor
            }
            return rotated.filter { !recentlyFailed($0) } + rotated.filter(recentlyFailed)
        }
    }

    /// A connect to `endpoint` failed, or its connection was lost.
    func failed(_ endpoint: AMQPEndpoint, now: ContinuousClock.Instant = .now) {
        state.withLock { $0.failedAt[Self.key(endpoint)] = now }
    }

    /// A connect to `endpoint` succeeded.
    func succeeded(_ endpoint: AMQPEndpoint) {
        state.withLock { state in
            if !state.failedAt.isEmpty { state.failedAt[Self.key(endpoint)] = nil }
        }
    }

    private static func key(_ endpoint: AMQPEndpoint) -> String { "\(endpoint.host):\(endpoint.port)" }
}
