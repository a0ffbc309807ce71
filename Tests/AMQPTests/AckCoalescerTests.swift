@testable import AMQP
import Testing

/// Pure-logic tests for `AckCoalescer`: no broker, no network.
@Suite("AckCoalescer")
struct AckCoalescerTests {
    typealias Op = AckCoalescer.WireOperation
    typealias Request = (tag: UInt64, settlement: AMQPSettlement)

    func coalescer(delivering tags: some Sequence<UInt64>) -> AckCoalescer {
        var acks = AckCoalescer()
        for tag in tags { acks.delivered(tag) }
        return acks
    }

    func acks(_ tags: UInt64...) -> [Request] { tags.map { ($0, .ack) } }

    // MARK: - Coalescing

    @Test("acks of a contiguous front run become one multiple ack with the highest tag")
    func frontRunCoalesces() {
        var acks = coalescer(delivering: 1...5)
        let result = acks.settle(self.acks(1, 2, 3, 4, 5))
        #expect(result.operations == [.ack(5, multiple: true)])
        #expect(result.dropped == 0)
        #expect(acks.outstandingCount == 0)
    }

    @Test("acks of a front run arriving in any order within one batch still coalesce")
    func frontRunCoalescesRegardlessOfRequestOrder() {
        var acks = coalescer(delivering: 1...4)
        let result = acks.settle(self.acks(3, 1, 4, 2))
        #expect(result.operations == [.ack(4, multiple: true)])
        #expect(acks.outstandingCount == 0)
    }

    @Test("a front run covering part of the outstanding tags leaves the rest outstanding")
    func partialFrontRun() {
        var acks = coalescer(delivering: 1...5)
        let result = acks.settle(self.acks(1, 2, 3))
        #expect(result.operations == [.ack(3, multiple: true)])
        #expect(acks.outstandingCount == 2)
        let next = acks.settle(self.acks(4, 5))
        #expect(next.operations == [.ack(5, multiple: true)])
        #expect(acks.outstandingCount == 0)
    }

    @Test("a single ack at the front stays a single ack")
    func singleAckStaysSingle() {
        var acks = coalescer(delivering: 1...3)
        let result = acks.settle(self.acks(1))
        #expect(result.operations == [.ack(1, multiple: false)])
        #expect(result.dropped == 0)
        #expect(acks.outstandingCount == 2)
    }

    @Test("tags need not start at 1 and a lone delivery is acked singly")
    func tagsStartAnywhere() {
        var acks = coalescer(delivering: [42])
        #expect(acks.settle(self.acks(42)).operations == [.ack(42, multiple: false)])
        #expect(acks.outstandingCount == 0)
    }

    @Test("an empty batch produces no frames and changes nothing")
    func emptyBatch() {
        var acks = coalescer(delivering: 1...3)
        let result = acks.settle([])
        #expect(result.operations.isEmpty)
        #expect(result.dropped == 0)
        #expect(acks.outstandingCount == 3)
    }

    // MARK: - Acks above an unsettled older delivery

    @Test("acks above an unsettled older delivery go out one by one, ascending")
    func acksBehindAGapAreSingle() {
        var acks = coalescer(delivering: 1...5)
        let result = acks.settle(self.acks(4, 2, 3))
        #expect(result.operations == [.ack(2, multiple: false), .ack(3, multiple: false), .ack(4, multiple: false)])
        #expect(result.dropped == 0)
        #expect(acks.outstandingCount == 2)
    }

    @Test("single acks sent earlier are absorbed into a later multiple ack's run")
    func earlierSingleAcksAreAbsorbed() {
        var acks = coalescer(delivering: 1...6)
        #expect(acks.settle(self.acks(2, 3)).operations == [.ack(2, multiple: false), .ack(3, multiple: false)])
        #expect(acks.outstandingCount == 4)

        // 1 now closes the gap; 2 and 3 were settled already, 4 is acked now, 6 stays behind 5.
        let result = acks.settle(self.acks(1, 4, 6))
        #expect(result.operations == [.ack(4, multiple: true), .ack(6, multiple: false)])
        #expect(result.dropped == 0)
        #expect(acks.outstandingCount == 1)

        #expect(acks.settle(self.acks(5)).operations == [.ack(5, multiple: false)])
        #expect(acks.outstandingCount == 0)
    }

    @Test("closing a gap with one ack over earlier-settled tags is sent as a single ack of the gap tag")
    func closingAGapWithOneAck() {
        var acks = coalescer(delivering: 1...4)
        #expect(acks.settle(self.acks(2, 3)).operations == [.ack(2, multiple: false), .ack(3, multiple: false)])
        // Only 1 is acked now; 2 and 3 are already settled on the broker, so a multiple ack of 1 or a
        // single ack of 1 are the only valid frames. 4 must stay outstanding.
        #expect(acks.settle(self.acks(1)).operations == [.ack(1, multiple: false)])
        #expect(acks.outstandingCount == 1)
        #expect(acks.settle(self.acks(4)).operations == [.ack(4, multiple: false)])
        #expect(acks.outstandingCount == 0)
    }

    // MARK: - Nack and reject

    @Test("a nack in the middle of a run goes out first and the multiple ack covers around it")
    func nackBeforeMultipleAck() throws {
        var acks = coalescer(delivering: 1...5)
        let result = acks.settle([(1, .ack), (2, .ack), (3, .nack(requeue: false)), (4, .ack), (5, .ack)])
        #expect(result.operations == [.nack(3, requeue: false), .ack(5, multiple: true)])
        #expect(acks.outstandingCount == 0)
        // The nack precedes the multiple ack on the wire, so the broker no longer counts 3 as
        // outstanding when the multiple ack arrives: it cannot be swallowed by it.
        let nackIndex = try #require(result.operations.firstIndex(of: .nack(3, requeue: false)))
        let ackIndex = try #require(result.operations.firstIndex(of: .ack(5, multiple: true)))
        #expect(nackIndex < ackIndex)
    }

    @Test("a nack at the front stops nothing: later acks still coalesce after it")
    func nackAtFront() {
        var acks = coalescer(delivering: 1...3)
        let result = acks.settle([(1, .reject(requeue: true)), (2, .ack), (3, .ack)])
        #expect(result.operations == [.reject(1, requeue: true), .ack(3, multiple: true)])
        #expect(acks.outstandingCount == 0)
    }

    @Test("a multiple ack never covers a nacked tag that is still to be sent")
    func multipleAckStopsBelowAnUnsettledTag() {
        var acks = coalescer(delivering: 1...6)
        // 4 is still being worked on; 5 is nacked; 1...3 and 6 are acked.
        let result = acks.settle([(1, .ack), (2, .ack), (5, .nack(requeue: true)), (3, .ack), (6, .ack)])
        #expect(result.operations == [.nack(5, requeue: true), .ack(3, multiple: true), .ack(6, multiple: false)])
        // The multiple ack stops below the unsettled 4, hence below the nacked 5 too.
        for case .ack(let tag, true) in result.operations { #expect(tag < 4) }
        #expect(acks.outstandingCount == 1)
        // Later, 4 closes the gap; 5 and 6 were settled before and are skipped, not re-sent.
        let later = acks.settle(self.acks(4))
        #expect(later.operations == [.ack(4, multiple: false)])
        #expect(acks.outstandingCount == 0)
    }

    @Test("nack and reject keep their requeue flag and request order")
    func nackAndRejectKeepFlagsAndOrder() {
        var acks = coalescer(delivering: 1...4)
        let result = acks.settle([
            (4, .reject(requeue: false)), (2, .nack(requeue: true)), (3, .reject(requeue: true)), (1, .nack(requeue: false)),
        ])
        #expect(result.operations == [
            .reject(4, requeue: false), .nack(2, requeue: true), .reject(3, requeue: true), .nack(1, requeue: false),
        ])
        #expect(acks.outstandingCount == 0)
        // Everything was settled: a later ack of any of them is a double settlement.
        let again = acks.settle(self.acks(1, 2, 3, 4))
        #expect(again.operations.isEmpty)
        #expect(again.dropped == 4)
    }

    @Test("a nacked tag above the front is skipped by a later multiple ack, not re-acked")
    func nackedTagSkippedLater() {
        var acks = coalescer(delivering: 1...4)
        #expect(acks.settle([(2, .nack(requeue: false))]).operations == [.nack(2, requeue: false)])
        let result = acks.settle(self.acks(1, 3, 4))
        // The broker has 1, 3, 4 outstanding; ack(4, multiple) covers exactly those.
        #expect(result.operations == [.ack(4, multiple: true)])
        #expect(acks.outstandingCount == 0)
    }

    // MARK: - Dropped requests

    @Test("unknown tags are dropped and counted")
    func unknownTagsDropped() {
        var acks = coalescer(delivering: 1...3)
        let result = acks.settle([(99, .ack), (0, .nack(requeue: true)), (2, .ack), (7, .reject(requeue: false))])
        #expect(result.operations == [.ack(2, multiple: false)])
        #expect(result.dropped == 3)
        #expect(acks.outstandingCount == 2)
    }

    @Test("settling the same tag twice in one batch keeps the first settlement and drops the rest")
    func doubleSettlementInOneBatch() {
        var acks = coalescer(delivering: 1...3)
        let result = acks.settle([(1, .ack), (1, .ack), (2, .nack(requeue: true)), (2, .ack), (3, .ack), (3, .reject(requeue: true))])
        #expect(result.operations == [.nack(2, requeue: true), .ack(3, multiple: true)])
        #expect(result.dropped == 3)
        #expect(acks.outstandingCount == 0)
    }

    @Test("settling a tag again in a later batch is dropped whether it was acked singly, in a run, or nacked")
    func doubleSettlementAcrossBatches() {
        var acks = coalescer(delivering: 1...6)
        _ = acks.settle(self.acks(1, 2))               // multiple ack, covered by the run
        _ = acks.settle(self.acks(4))                  // single ack behind the gap at 3
        _ = acks.settle([(5, .nack(requeue: true))])   // nack behind the gap
        #expect(acks.outstandingCount == 2)
        let again = acks.settle([(1, .ack), (2, .nack(requeue: false)), (4, .ack), (5, .ack), (5, .nack(requeue: true))])
        #expect(again.operations.isEmpty)
        #expect(again.dropped == 5)
        #expect(acks.outstandingCount == 2)
    }

    @Test("requests for tags never delivered to a manual-ack consumer are dropped")
    func nothingDelivered() {
        var acks = AckCoalescer()
        let result = acks.settle(self.acks(1, 2, 3))
        #expect(result.operations.isEmpty)
        #expect(result.dropped == 3)
        #expect(acks.outstandingCount == 0)
    }
}

/// Small deterministic generator so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
