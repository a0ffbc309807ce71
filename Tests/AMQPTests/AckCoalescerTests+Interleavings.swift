@testable import AMQP
import Testing

/// AckCoalescerTests, continued: deliveries in any order, reset, and long runs and random
/// interleavings checked against a model of the broker (AckCoalescerTests.swift has the rules).
extension AckCoalescerTests {
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
