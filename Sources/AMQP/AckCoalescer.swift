/// Turns the settlements a consumer asks for into as few frames as the protocol allows.
///
/// Delivery tags on a channel rise by one per delivery. When every outstanding delivery up to tag T is
/// being acknowledged at once, one `basic.ack(T, multiple: true)` replaces them all; a consumer that
/// acks in order pays one frame per wake-up of the connection thread instead of one per message. Tags
/// that are not at the front (an older delivery is still being worked on) are acked one by one. A tag
/// that is unknown or already settled is dropped here, because on the wire it would close the channel
/// with PRECONDITION_FAILED.
///
/// Pure state, owned by the connection thread; unit-tested without a broker.
struct AckCoalescer {
    enum WireOperation: Equatable {
        case ack(UInt64, multiple: Bool)
        case nack(UInt64, requeue: Bool)
        case reject(UInt64, requeue: Bool)
    }

    /// Delivered and not yet settled, ascending, from `head` on; entries also in `settledBehindFront`
    /// were settled out of order and are skipped.
    private var outstanding: [UInt64] = []
    private var head = 0
    private var settledBehindFront: Set<UInt64> = []

    var outstandingCount: Int { outstanding.count - head - settledBehindFront.count }

    /// Records a delivery that the consumer must settle (not for automatic-ack consumers).
    mutating func delivered(_ tag: UInt64) {
        guard let last = outstanding.last, tag < last else {
            outstanding.append(tag)
            return
        }
        // Recorded late (its content was still arriving while a later one completed): keep the order,
        // which both the lookup and the front run rely on.
        outstanding.insert(tag, at: insertionIndex(tag))
    }

    /// The frames to send for `requests`, in order, and how many requests were dropped as unknown or
    /// repeated.
    mutating func settle(_ requests: [(tag: UInt64, settlement: AMQPSettlement)]) -> (operations: [WireOperation], dropped: Int) {
        var operations: [WireOperation] = []
        var acks: Set<UInt64> = []
        var dropped = 0
        for (tag, settlement) in requests {
            guard isOutstanding(tag), !acks.contains(tag) else {
                dropped += 1
                continue
            }
            switch settlement {
            case .ack:
                acks.insert(tag)
            case .nack(let requeue):
                operations.append(.nack(tag, requeue: requeue))
                settledBehindFront.insert(tag)
            case .reject(let requeue):
                operations.append(.reject(tag, requeue: requeue))
                settledBehindFront.insert(tag)
            }
        }
        // The front run: every outstanding tag from the head that is acked now (or settled earlier).
        var covered = 0
        var lastCovered: UInt64 = 0
        while head < outstanding.count {
            let tag = outstanding[head]
            if acks.remove(tag) != nil {
                covered += 1
                lastCovered = tag
            } else if settledBehindFront.remove(tag) == nil {
                break
            }
            head += 1
        }
        if covered > 0 { operations.append(.ack(lastCovered, multiple: covered > 1)) }
        for tag in acks.sorted() {
            operations.append(.ack(tag, multiple: false))
            settledBehindFront.insert(tag)
        }
        compactIfNeeded()
        return (operations, dropped)
    }

    /// Forgets everything: the channel closed, and the broker requeued what was outstanding.
    mutating func reset() {
        outstanding = []
        head = 0
        settledBehindFront = []
    }

    private func isOutstanding(_ tag: UInt64) -> Bool {
        guard !settledBehindFront.contains(tag) else { return false }
        let index = insertionIndex(tag)
        return index < outstanding.count && outstanding[index] == tag
    }

    /// The first position from `head` whose tag is not below `tag`.
    private func insertionIndex(_ tag: UInt64) -> Int {
        var low = head
        var high = outstanding.count
        while low < high {
            let mid = (low + high) / 2
            if outstanding[mid] < tag { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private mutating func compactIfNeeded() {
        if settledBehindFront.count > 4096 {
            outstanding = outstanding[head...].filter { !settledBehindFront.contains($0) }
            head = 0
            settledBehindFront = []
        } else if head > 1024, head * 2 > outstanding.count {
            outstanding.removeFirst(head)
            head = 0
        }
    }
}
