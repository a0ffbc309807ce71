@testable import AMQP
import Testing

/// Pure-logic tests for `AckCoalescer`: no broker, no network.
@Suite("AckCoalescer")
struct AckCoalescerTests {
    typealias Op = AckCoalescer.WireOperation
    typealias Request = (tag: UInt64, settlement: AMQPSettlement)

    private func coalescer(delivering tags: some Sequence<UInt64>) -> AckCoalescer {
        var acks = AckCoalescer()
        for tag in tags { acks.delivered(tag) }
        return acks
    }

    private func acks(_ tags: UInt64...) -> [Request] { tags.map { ($0, .ack) } }

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

    // MARK: - Order of delivery

    @Test("a basic.get tag below later deliveries is handled like any other")
    func getTagBelowLaterDeliveries() {
        var acks = AckCoalescer()
        acks.delivered(1)  // basic.get
        acks.delivered(2)  // consumer deliveries
        acks.delivered(3)
        #expect(acks.settle(self.acks(3, 2)).operations == [.ack(2, multiple: false), .ack(3, multiple: false)])
        #expect(acks.settle(self.acks(1)).operations == [.ack(1, multiple: false)])
        #expect(acks.outstandingCount == 0)
    }

    @Test("gaps in tags (auto-ack deliveries on the same channel) do not break coalescing")
    func gapsInTags() {
        var acks = coalescer(delivering: [2, 5, 6, 9])
        let result = acks.settle(self.acks(2, 5, 6))
        #expect(result.operations == [.ack(6, multiple: true)])
        #expect(acks.outstandingCount == 1)
        #expect(acks.settle(self.acks(9)).operations == [.ack(9, multiple: false)])
    }

    /// `delivered` recorded out of ascending order: `ConnectionLoop.get` records its tag right after
    /// `basic.get-ok`, while consumer deliveries that rabbitmq-c queued during that RPC (lower tags) are
    /// only recorded later, by `dispatchQueuedFrames`; so is a delivery whose body was still arriving.
    @Test("deliveries recorded out of ascending order can all be settled")
    func deliveredOutOfOrder() {
        var acks = AckCoalescer()
        acks.delivered(10)  // basic.get-ok
        acks.delivered(8)   // consumer deliveries queued during the get RPC
        acks.delivered(9)
        #expect(acks.outstandingCount == 3)
        let first = acks.settle(self.acks(8, 9))
        #expect(first.dropped == 0)
        #expect(acks.outstandingCount == 1)
        // 10 is still being worked on: a multiple ack may cover 8 and 9 (tag 9) but nothing else.
        for case .ack(let tag, true) in first.operations { #expect(tag == 9) }
        let second = acks.settle(self.acks(10))
        #expect(second.dropped == 0)
        #expect(second.operations == [.ack(10, multiple: false)])
        #expect(acks.outstandingCount == 0)
    }

    @Test("acking deliveries recorded out of order leaves nothing unacknowledged on the broker")
    func deliveredOutOfOrderAllAcked() {
        var acks = AckCoalescer()
        acks.delivered(10)
        acks.delivered(8)
        var broker = BrokerModel()
        broker.deliver(10)
        broker.deliver(8)
        let result = acks.settle(self.acks(8, 10))
        #expect(result.dropped == 0)
        for op in result.operations {
            let valid = broker.apply(op)
            #expect(valid, "invalid on the wire: \(op)")
        }
        #expect(broker.outstanding.isEmpty, "the broker still has \(broker.outstanding.sorted()) unacked")
        #expect(acks.outstandingCount == 0)
    }

    // MARK: - Reset

    @Test("reset forgets outstanding and settled tags alike")
    func resetForgetsEverything() {
        var acks = coalescer(delivering: 1...5)
        _ = acks.settle(self.acks(3))
        _ = acks.settle([(4, .nack(requeue: true))])
        #expect(acks.outstandingCount == 3)
        acks.reset()
        #expect(acks.outstandingCount == 0)
        let stale = acks.settle(self.acks(1, 2, 5))
        #expect(stale.operations.isEmpty)
        #expect(stale.dropped == 3)

        // A reopened channel numbers deliveries from 1 again; tags settled before the reset are new now.
        for tag: UInt64 in 1...4 { acks.delivered(tag) }
        #expect(acks.outstandingCount == 4)
        #expect(acks.settle(self.acks(1, 2, 3, 4)).operations == [.ack(4, multiple: true)])
        #expect(acks.outstandingCount == 0)
    }

    // MARK: - Long runs and random interleavings

    @Test("100,000 deliveries acked in random-sized in-order chunks with occasional out-of-order ones")
    func longRun() {
        var rng = SplitMix64(seed: 0xC0FFEE)
        var acks = AckCoalescer()
        var broker = BrokerModel()
        let total: UInt64 = 100_000
        for tag in 1...total {
            acks.delivered(tag)
            broker.deliver(tag)
        }
        #expect(acks.outstandingCount == Int(total))

        var asked: [UInt64: AMQPSettlement] = [:]
        var postponed: [UInt64] = []   // worked on longer, settled later out of order
        var next: UInt64 = 1
        var invalid = 0
        var frames = 0
        var cleanBatches = 0
        while next <= total || !postponed.isEmpty {
            let gapBefore = !postponed.isEmpty
            var batch: [Request] = []
            let size = UInt64.random(in: 1...64, using: &rng)
            while next <= total, UInt64(batch.count) < size {
                if UInt64.random(in: 0..<200, using: &rng) == 0 {
                    postponed.append(next)  // ~0.5 %
                } else {
                    batch.append((next, .ack))
                }
                next += 1
            }
            let inOrderOnly = !gapBefore && postponed.isEmpty && !batch.isEmpty
            // Now and then settle some of the postponed ones (and at the end, all of them).
            if !postponed.isEmpty, next > total || UInt64.random(in: 0..<3, using: &rng) == 0 {
                postponed.shuffle(using: &rng)
                let count = next > total ? postponed.count : Int.random(in: 1...postponed.count, using: &rng)
                for tag in postponed.prefix(count) {
                    batch.append((tag, UInt64.random(in: 0..<4, using: &rng) == 0 ? .nack(requeue: false) : .ack))
                }
                postponed.removeFirst(count)
            }
            for request in batch { asked[request.tag] = request.settlement }
            let expectedOutstanding = acks.outstandingCount - batch.count
            let result = acks.settle(batch)
            frames += result.operations.count
            #expect(result.dropped == 0)
            if inOrderOnly {
                // Nothing older is unsettled and the batch is an unbroken run: exactly one frame.
                cleanBatches += 1
                #expect(result.operations == [.ack(batch.last!.tag, multiple: batch.count > 1)])
            }
            for op in result.operations where !broker.apply(op) { invalid += 1 }
            #expect(acks.outstandingCount == expectedOutstanding)
            #expect(acks.outstandingCount == Int(total) - asked.count)
            #expect(acks.outstandingCount == broker.outstanding.count)
            if invalid > 0 { break }
        }
        #expect(invalid == 0)
        #expect(acks.outstandingCount == 0)
        #expect(broker.outstanding.isEmpty)
        #expect(broker.settledTwice.isEmpty)
        #expect(asked.count == Int(total))
        #expect(broker.settled.count == Int(total))
        #expect(asked.allSatisfy { broker.settled[$0.key] == BrokerModel.Outcome($0.value) })
        #expect(cleanBatches > 100)
        // Coalescing saves frames even with gaps: well under one frame per delivery.
        #expect(frames < Int(total) / 2)
    }

    @Test("thousands of acks behind one unsettled delivery stay correct across internal compaction")
    func manyAcksBehindAGap() {
        var acks = coalescer(delivering: 1...10_000)
        var singles = 0
        for chunk in stride(from: UInt64(2), through: 10_000, by: 100) {
            let tags = chunk..<Swift.min(chunk + 100, 10_001)
            let result = acks.settle(tags.map { ($0, .ack) })
            #expect(result.operations == tags.map { .ack($0, multiple: false) })
            singles += result.operations.count
        }
        #expect(singles == 9_999)
        #expect(acks.outstandingCount == 1)
        // Everything behind the gap is still known as settled, before and after compaction.
        let again = acks.settle([(2, .ack), (5_000, .nack(requeue: true)), (10_000, .ack)])
        #expect(again.operations.isEmpty)
        #expect(again.dropped == 3)
        acks.delivered(10_001)
        acks.delivered(10_002)
        let result = acks.settle(self.acks(1, 10_001))
        #expect(result.operations == [.ack(10_001, multiple: true)])
        #expect(acks.outstandingCount == 1)
        #expect(acks.settle(self.acks(10_002)).operations == [.ack(10_002, multiple: false)])
        #expect(acks.outstandingCount == 0)
    }

    @Test("random interleavings are valid on the wire and settle each delivery exactly once as asked", arguments: 0..<40)
    func randomInterleavings(seed: UInt64) {
        var rng = SplitMix64(seed: 0x5EED_0000 + seed)
        var acks = AckCoalescer()
        var broker = BrokerModel()
        var nextTag: UInt64 = 1
        var unsettled: [UInt64] = []                // delivered, not yet asked for by the consumer
        var asked: [UInt64: AMQPSettlement] = [:]   // what the consumer asked for; the first request wins
        var expectedDropped = 0
        var actualDropped = 0

        func run(_ batch: [Request]) {
            // What the coalescer should keep: the first request for a delivered tag not asked for before.
            for request in batch {
                if request.tag < nextTag, asked[request.tag] == nil {
                    asked[request.tag] = request.settlement
                } else {
                    expectedDropped += 1
                }
            }
            let result = acks.settle(batch)
            actualDropped += result.dropped
            for op in result.operations {
                let valid = broker.apply(op)
                #expect(valid, "seed \(seed): invalid on the wire: \(op), outstanding \(broker.outstanding.sorted())")
            }
            #expect(acks.outstandingCount == broker.outstanding.count, "seed \(seed)")
        }

        for _ in 0..<300 {
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                acks.delivered(nextTag)
                broker.deliver(nextTag)
                unsettled.append(nextTag)
                nextTag += 1
            }
            // A random subset of the unsettled ones, in random order, with random settlements…
            var batch: [Request] = []
            unsettled.shuffle(using: &rng)
            let count = unsettled.isEmpty ? 0 : Int.random(in: 0...unsettled.count, using: &rng)
            for tag in unsettled.prefix(count) { batch.append((tag, randomSettlement(&rng))) }
            unsettled.removeFirst(count)
            // …plus a repeated settlement (of this batch or an earlier one) and an unknown tag now and then.
            let earlier = batch.map(\.tag) + asked.keys
            if Bool.random(using: &rng), let again = earlier.randomElement(using: &rng) {
                batch.append((again, randomSettlement(&rng)))
            }
            if Int.random(in: 0..<5, using: &rng) == 0 { batch.append((nextTag + 1000, .ack)) }
            batch.shuffle(using: &rng)
            run(batch)
        }
        // Finally the consumer settles everything still unsettled.
        run(unsettled.map { ($0, randomSettlement(&rng)) })

        #expect(expectedDropped > 0)
        #expect(actualDropped == expectedDropped, "seed \(seed)")
        #expect(acks.outstandingCount == 0)
        #expect(broker.outstanding.isEmpty)
        #expect(broker.settled.count == Int(nextTag - 1))
        #expect(broker.settledTwice.isEmpty)
        for (tag, settlement) in asked {
            #expect(broker.settled[tag] == BrokerModel.Outcome(settlement), "seed \(seed): tag \(tag)")
        }
    }

    private func randomSettlement(_ rng: inout SplitMix64) -> AMQPSettlement {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: .nack(requeue: Bool.random(using: &rng))
        case 1: .reject(requeue: Bool.random(using: &rng))
        default: .ack
        }
    }
}

/// The broker's view of one channel's unacknowledged deliveries.
private struct BrokerModel {
    enum Outcome: Equatable {
        case ack
        case nack(requeue: Bool)
        case reject(requeue: Bool)

        init(_ settlement: AMQPSettlement) {
            switch settlement {
            case .ack: self = .ack
            case .nack(let requeue): self = .nack(requeue: requeue)
            case .reject(let requeue): self = .reject(requeue: requeue)
            }
        }
    }

    var outstanding: Set<UInt64> = []
    var settled: [UInt64: Outcome] = [:]
    var settledTwice: Set<UInt64> = []
    /// Nothing below this is outstanding (everything up to a multiple ack's tag is gone after it).
    private var floor: UInt64 = 0

    mutating func deliver(_ tag: UInt64) { outstanding.insert(tag) }

    /// Applies one frame; false when the broker would close the channel (PRECONDITION_FAILED: unknown
    /// delivery tag).
    mutating func apply(_ op: AckCoalescer.WireOperation) -> Bool {
        switch op {
        case .ack(let tag, let multiple):
            guard outstanding.contains(tag) else { return false }
            if multiple {
                for t in Swift.min(floor, tag)...tag where outstanding.contains(t) { record(t, .ack) }
                floor = Swift.max(floor, tag + 1)
            } else {
                record(tag, .ack)
            }
        case .nack(let tag, let requeue):
            guard outstanding.contains(tag) else { return false }
            record(tag, .nack(requeue: requeue))
        case .reject(let tag, let requeue):
            guard outstanding.contains(tag) else { return false }
            record(tag, .reject(requeue: requeue))
        }
        return true
    }

    private mutating func record(_ tag: UInt64, _ outcome: Outcome) {
        outstanding.remove(tag)
        if settled.updateValue(outcome, forKey: tag) != nil { settledTwice.insert(tag) }
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
