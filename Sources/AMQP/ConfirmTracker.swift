/// Matches the broker's publisher confirms to the publishes that are waiting for them.
///
/// After `confirm.select` the broker numbers a channel's publishes 1, 2, 3… and answers each with a
/// `basic.ack` (it has taken responsibility) or `basic.nack` (it has not), possibly for many at once
/// (`multiple`), and not necessarily in order when messages go to different queues. A `mandatory`
/// message that no queue takes comes back as `basic.return` *before* its ack; the return carries no
/// sequence number, so it is matched to the oldest unconfirmed mandatory publish with the same exchange
/// and routing key — the broker handles a channel's publishes in order, and one exchange and key route
/// alike until the topology changes.
///
/// Pure state, owned by the connection thread; unit-tested without a broker.
struct ConfirmTracker<Token> {
    private struct Entry {
        let sequence: UInt64
        let token: Token
        /// Exchange and routing key of a mandatory publish, to match returns; nil otherwise.
        let route: (exchange: String, routingKey: String)?
        var returned: AMQPError?
        var settled = false
    }

    private var entries: [Entry] = []
    private var head = 0
    private(set) var nextSequence: UInt64 = 1

    var pendingCount: Int { entries[head...].lazy.filter { !$0.settled }.count }

    /// Records a publish just written; returns its sequence number.
    @discardableResult
    mutating func published(_ token: Token, mandatoryRoute: (exchange: String, routingKey: String)? = nil) -> UInt64 {
        let sequence = nextSequence
        nextSequence += 1
        entries.append(Entry(sequence: sequence, token: token, route: mandatoryRoute))
        return sequence
    }

    /// Handles `basic.ack`; calls `resolve` for each publish it settles, with the error of a return that
    /// preceded it (an unroutable mandatory message) or nil for success.
    mutating func acknowledged(upTo tag: UInt64, multiple: Bool, _ resolve: (Token, AMQPError?) -> Void) {
        settle(tag, multiple: multiple) { entry in resolve(entry.token, entry.returned) }
    }

    /// Handles `basic.nack`.
    mutating func rejected(upTo tag: UInt64, multiple: Bool, _ resolve: (Token, AMQPError?) -> Void) {
        settle(tag, multiple: multiple) { entry in
            resolve(entry.token, entry.returned ?? AMQPError(.nacked, "the broker did not take the message (basic.nack)"))
        }
    }

    /// Handles `basic.return`; true when it matched a pending mandatory publish.
    @discardableResult
    mutating func returned(exchange: String, routingKey: String, error: AMQPError) -> Bool {
        for index in head..<entries.count {
            guard !entries[index].settled, entries[index].returned == nil, let route = entries[index].route,
                route.exchange == exchange, route.routingKey == routingKey
            else { continue }
            entries[index].returned = error
            return true
        }
        return false
    }

    /// Fails everything still pending, e.g. when the channel or connection closed.
    mutating func failAll(_ error: AMQPError, _ resolve: (Token, AMQPError?) -> Void) {
        for index in head..<entries.count where !entries[index].settled {
            resolve(entries[index].token, error)
        }
        entries = []
        head = 0
    }

    private mutating func settle(_ tag: UInt64, multiple: Bool, _ body: (Entry) -> Void) {
        if multiple {
            var index = head
            while index < entries.count, entries[index].sequence <= tag {
                if !entries[index].settled {
                    entries[index].settled = true
                    body(entries[index])
                }
                index += 1
            }
        } else if let index = find(tag), !entries[index].settled {
            entries[index].settled = true
            body(entries[index])
        }
        while head < entries.count, entries[head].settled { head += 1 }
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024, head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    private func find(_ tag: UInt64) -> Int? {
        var low = head
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].sequence < tag { low = mid + 1 } else { high = mid }
        }
        return low < entries.count && entries[low].sequence == tag ? low : nil
    }
}
