@testable import AMQP
import Testing

/// Pure-logic tests for `ConfirmTracker`: no broker, no network.
@Suite("ConfirmTracker")
struct ConfirmTrackerTests {
    /// Every resolution, in order: the token and the error code (nil for success).
    private struct Resolutions {
        var all: [(token: String, error: AMQPError?)] = []
        var tokens: [String] { all.map(\.token) }
        var codes: [AMQPError.Code?] { all.map { $0.error?.code } }
        mutating func record(_ token: String, _ error: AMQPError?) { all.append((token, error)) }
    }

    private func tracker(publishing tokens: String...) -> ConfirmTracker<String> {
        var tracker = ConfirmTracker<String>()
        for token in tokens { tracker.published(token) }
        return tracker
    }

    private let unroutable = AMQPError(.unroutable, "NO_ROUTE", replyCode: 312)

    // MARK: - Sequence numbers

    @Test("sequence numbers start at 1 and rise by one per publish")
    func sequenceNumbers() {
        var tracker = ConfirmTracker<String>()
        #expect(tracker.nextSequence == 1)
        #expect(tracker.published("a") == 1)
        #expect(tracker.published("b", mandatoryRoute: (exchange: "x", routingKey: "k")) == 2)
        #expect(tracker.published("c") == 3)
        #expect(tracker.nextSequence == 4)
        #expect(tracker.pendingCount == 3)
    }

    @Test("sequence numbers keep rising after everything was confirmed")
    func sequenceAfterDrain() {
        var tracker = tracker(publishing: "a", "b")
        var resolved = Resolutions()
        tracker.acknowledged(upTo: 2, multiple: true) { resolved.record($0, $1) }
        #expect(tracker.pendingCount == 0)
        #expect(tracker.published("c") == 3)
        tracker.acknowledged(upTo: 3, multiple: false) { resolved.record($0, $1) }
        #expect(resolved.tokens == ["a", "b", "c"])
    }

    // MARK: - Acks and nacks

    @Test("a single ack resolves exactly its publish with no error")
    func singleAck() {
        var tracker = tracker(publishing: "a", "b", "c")
        var resolved = Resolutions()
        tracker.acknowledged(upTo: 2, multiple: false) { resolved.record($0, $1) }
        #expect(resolved.tokens == ["b"])
        #expect(resolved.codes == [nil])
        #expect(tracker.pendingCount == 2)
    }

    @Test("a multiple ack resolves every pending publish up to its tag, oldest first")
    func multipleAck() {
        var tracker = tracker(publishing: "a", "b", "c", "d")
        var resolved = Resolutions()
        tracker.acknowledged(upTo: 3, multiple: true) { resolved.record($0, $1) }
        #expect(resolved.tokens == ["a", "b", "c"])
        #expect(resolved.codes == [nil, nil, nil])
        #expect(tracker.pendingCount == 1)
        tracker.acknowledged(upTo: 4, multiple: true) { resolved.record($0, $1) }
        #expect(resolved.tokens == ["a", "b", "c", "d"])
        #expect(tracker.pendingCount == 0)
    }

    @Test("a multiple ack skips publishes already settled out of order")
    func multipleAckAfterSingles() {
        var tracker = tracker(publishing: "a", "b", "c", "d", "e")
        var resolved = Resolutions()
        tracker.acknowledged(upTo: 2, multiple: false) { resolved.record($0, $1) }
        tracker.rejected(upTo: 4, multiple: false) { resolved.record($0, $1) }
        tracker.acknowledged(upTo: 5, multiple: true) { resolved.record($0, $1) }
        #expect(resolved.tokens == ["b", "d", "a", "c", "e"])
        #expect(resolved.codes == [nil, .nacked, nil, nil, nil])
        #expect(tracker.pendingCount == 0)
    }

    @Test("a nack resolves with a .nacked error, single or multiple")
    func nack() throws {
        var tracker = tracker(publishing: "a", "b", "c")
        var resolved = Resolutions()
        tracker.rejected(upTo: 1, multiple: false) { resolved.record($0, $1) }
        tracker.rejected(upTo: 3, multiple: true) { resolved.record($0, $1) }
        #expect(resolved.tokens == ["a", "b", "c"])
        #expect(resolved.codes == [.nacked, .nacked, .nacked])
        let error = try #require(resolved.all.first?.error)
        #expect(!error.isConnectionLevel)
        #expect(tracker.pendingCount == 0)
    }

    @Test("single acks out of order resolve the right publishes and nothing twice")
    func outOfOrderSingleAcks() {
        var tracker = tracker(publishing: "a", "b", "c", "d")
        var resolved = Resolutions()
        for tag: UInt64 in [3, 1, 4, 2] {
            tracker.acknowledged(upTo: tag, multiple: false) { resolved.record($0, $1) }
        }
        #expect(resolved.tokens == ["c", "a", "d", "b"])
        #expect(resolved.codes == [nil, nil, nil, nil])
        #expect(tracker.pendingCount == 0)
    }

    @Test("repeated and unknown confirms resolve nothing")
    func repeatedAndUnknownConfirms() {
        var tracker = tracker(publishing: "a", "b", "c")
        var resolved = Resolutions()
        tracker.acknowledged(upTo: 2, multiple: false) { resolved.record($0, $1) }
        tracker.acknowledged(upTo: 2, multiple: false) { resolved.record($0, $1) }
        tracker.rejected(upTo: 2, multiple: false) { resolved.record($0, $1) }
        tracker.acknowledged(upTo: 99, multiple: false) { resolved.record($0, $1) }
        tracker.acknowledged(upTo: 0, multiple: true) { resolved.record($0, $1) }
        #expect(resolved.tokens == ["b"])
        #expect(tracker.pendingCount == 2)
    }

    @Test("pendingCount follows publishes and settlements")
    func pendingCount() {
        var tracker = ConfirmTracker<String>()
        #expect(tracker.pendingCount == 0)
        for index in 1...10 { tracker.published("m\(index)") }
        #expect(tracker.pendingCount == 10)
        tracker.acknowledged(upTo: 5, multiple: false) { _, _ in }
        #expect(tracker.pendingCount == 9)
        tracker.acknowledged(upTo: 3, multiple: true) { _, _ in }
        #expect(tracker.pendingCount == 6)
        tracker.rejected(upTo: 10, multiple: false) { _, _ in }
        #expect(tracker.pendingCount == 5)
        tracker.acknowledged(upTo: 9, multiple: true) { _, _ in }
        #expect(tracker.pendingCount == 0)
    }

    @Test("many publishes confirmed out of order in windows resolve each exactly once")
    func manyPublishes() {
        let count: UInt64 = 5_000
        var tracker = ConfirmTracker<Int>()
        var rng = SplitMix64(seed: 7)
        var resolvedCount = [Int](repeating: 0, count: Int(count) + 1)
        var total = 0
        var errors = 0
        let sequences = (1...Int(count)).map { tracker.published($0) }
        #expect(sequences == Array(1...count))
        var next: UInt64 = 1
        while next <= count {
            let window = Swift.min(next + UInt64.random(in: 0..<50, using: &rng), count)
            // A few singles above the window, out of order, then the window as one multiple ack.
            for _ in 0..<3 {
                let tag = Swift.min(window + UInt64.random(in: 1...20, using: &rng), count)
                tracker.acknowledged(upTo: tag, multiple: false) { token, error in
                    resolvedCount[token] += 1
                    total += 1
                    if error != nil { errors += 1 }
                }
            }
            tracker.acknowledged(upTo: window, multiple: true) { token, error in
                resolvedCount[token] += 1
                total += 1
                if error != nil { errors += 1 }
            }
            next = window + 1
            #expect(tracker.pendingCount == Int(count) - total)
        }
        #expect(errors == 0)
        #expect(resolvedCount.dropFirst().allSatisfy { $0 == 1 })
        #expect(tracker.pendingCount == 0)
    }

    // MARK: - Returns

    @Test("a return matches the oldest unconfirmed mandatory publish with the same exchange and key, and its error arrives with the ack")
    func returnMatchesOldestMandatory() throws {
        var tracker = ConfirmTracker<String>()
        tracker.published("plain", mandatoryRoute: nil)                                  // 1: not mandatory
        tracker.published("other-key", mandatoryRoute: (exchange: "orders", routingKey: "eu"))  // 2
        tracker.published("other-exchange", mandatoryRoute: (exchange: "audit", routingKey: "us"))  // 3
        tracker.published("target", mandatoryRoute: (exchange: "orders", routingKey: "us"))     // 4
        tracker.published("later-twin", mandatoryRoute: (exchange: "orders", routingKey: "us")) // 5

        #expect(tracker.returned(exchange: "orders", routingKey: "us", error: unroutable) == true)
        var resolved = Resolutions()
        // The return itself resolves nothing: the ack that follows it carries the error.
        #expect(tracker.pendingCount == 5)
        tracker.acknowledged(upTo: 5, multiple: true) { resolved.record($0, $1) }
        #expect(resolved.tokens == ["plain", "other-key", "other-exchange", "target", "later-twin"])
        #expect(resolved.codes == [nil, nil, nil, .unroutable, nil])
        let error = try #require(resolved.all[3].error)
        #expect(error == unroutable)
    }

    @Test("a second return for the same route matches the next mandatory publish")
    func secondReturnMatchesNext() {
        var tracker = ConfirmTracker<String>()
        tracker.published("first", mandatoryRoute: (exchange: "", routingKey: "q"))
        tracker.published("second", mandatoryRoute: (exchange: "", routingKey: "q"))
        tracker.published("third", mandatoryRoute: (exchange: "", routingKey: "q"))
        #expect(tracker.returned(exchange: "", routingKey: "q", error: unroutable) == true)
        #expect(tracker.returned(exchange: "", routingKey: "q", error: unroutable) == true)
        var resolved = Resolutions()
        tracker.acknowledged(upTo: 3, multiple: true) { resolved.record($0, $1) }
        #expect(resolved.codes == [.unroutable, .unroutable, nil])
    }

    @Test("a return skips publishes that were already confirmed")
    func returnSkipsConfirmed() {
        var tracker = ConfirmTracker<String>()
        tracker.published("confirmed", mandatoryRoute: (exchange: "x", routingKey: "k"))
        tracker.published("open", mandatoryRoute: (exchange: "x", routingKey: "k"))
        tracker.acknowledged(upTo: 1, multiple: false) { _, _ in }
        #expect(tracker.returned(exchange: "x", routingKey: "k", error: unroutable) == true)
        var resolved = Resolutions()
        tracker.acknowledged(upTo: 2, multiple: false) { resolved.record($0, $1) }
        #expect(resolved.tokens == ["open"])
        #expect(resolved.codes == [.unroutable])
    }

    @Test("a return that matches no pending mandatory publish reports false and changes nothing")
    func unmatchedReturn() {
        var tracker = ConfirmTracker<String>()
        tracker.published("plain")                                                   // not mandatory
        tracker.published("eu", mandatoryRoute: (exchange: "orders", routingKey: "eu"))
        #expect(tracker.returned(exchange: "orders", routingKey: "us", error: unroutable) == false)
        #expect(tracker.returned(exchange: "", routingKey: "eu", error: unroutable) == false)
        #expect(tracker.returned(exchange: "orders", routingKey: "eu", error: unroutable) == true)
        // Its one mandatory publish is already marked: a second return has nothing left to match.
        #expect(tracker.returned(exchange: "orders", routingKey: "eu", error: unroutable) == false)
        var resolved = Resolutions()
        tracker.acknowledged(upTo: 2, multiple: true) { resolved.record($0, $1) }
        #expect(resolved.codes == [nil, .unroutable])
    }

    @Test("a returned publish that is then nacked reports the return's error, not .nacked")
    func returnThenNack() {
        var tracker = ConfirmTracker<String>()
        tracker.published("m", mandatoryRoute: (exchange: "x", routingKey: "k"))
        tracker.published("n")
        #expect(tracker.returned(exchange: "x", routingKey: "k", error: unroutable) == true)
        var resolved = Resolutions()
        tracker.rejected(upTo: 2, multiple: true) { resolved.record($0, $1) }
        #expect(resolved.codes == [.unroutable, .nacked])
    }

    @Test("on an empty tracker a return matches nothing")
    func returnOnEmpty() {
        var tracker = ConfirmTracker<String>()
        #expect(tracker.returned(exchange: "", routingKey: "q", error: unroutable) == false)
    }

    // MARK: - failAll

    @Test("failAll fails only the unsettled publishes, with the given error, and empties the tracker")
    func failAll() {
        var tracker = tracker(publishing: "a", "b", "c", "d")
        var resolved = Resolutions()
        tracker.acknowledged(upTo: 1, multiple: false) { resolved.record($0, $1) }
        tracker.acknowledged(upTo: 3, multiple: false) { resolved.record($0, $1) }
        let closed = AMQPError(.channelClosedByBroker, "PRECONDITION_FAILED", replyCode: 406)
        var failed = Resolutions()
        tracker.failAll(closed) { failed.record($0, $1) }
        #expect(failed.tokens == ["b", "d"])
        #expect(failed.all.allSatisfy { $0.error == closed })
        #expect(tracker.pendingCount == 0)
        // A late confirm for a failed publish resolves nothing a second time.
        tracker.acknowledged(upTo: 4, multiple: true) { failed.record($0, $1) }
        #expect(failed.tokens == ["b", "d"])
        #expect(resolved.tokens == ["a", "c"])
    }

    @Test("failAll on an empty tracker calls nothing")
    func failAllEmpty() {
        var tracker = ConfirmTracker<String>()
        var calls = 0
        tracker.failAll(AMQPError(.connectionLost, "gone")) { _, _ in calls += 1 }
        #expect(calls == 0)
    }
}
