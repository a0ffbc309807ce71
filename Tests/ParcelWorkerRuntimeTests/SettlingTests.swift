import Foundation
import ParcelCore
@testable import ParcelWorkerRuntime
import Testing

/// The hand-over between handlers and the settling loop (``Settling``), which batches what finished
/// together into one store transaction, one publish and the acknowledgements.
@Suite("Settling: what finished together is settled together")
struct SettlingTests {
    final class Delivery: TaskDelivery {
        let body = Data("{}".utf8)
        let refusalReason: String? = nil
        let returnedCount: Int? = nil
        let redelivered = false
        let canSettle = true
        func acknowledge() throws {}
        func requeue() throws {}
    }

    static func item() -> Settling.Item {
        Settling.Item(delivery: Delivery(), stage: .packaging, received: .now,
                      step: .decided(TaskDecision(outcome: .duplicate, publish: nil)))
    }

    @Test("next() waits for the first item and takes everything gathered; takeGathered() never waits and takes the rest")
    func gathering() async {
        let settling = Settling()
        #expect(settling.takeGathered().isEmpty, "nothing gathered: empty at once, not a wait")
        let first = Task { await settling.next() }
        try? await Task.sleep(for: .milliseconds(20))
        settling.add(Self.item())
        #expect(await first.value?.count == 1, "the waiting loop takes the first item as it comes")
        // Items that finish while the loop waits for more (a small batch) are taken together after it.
        for _ in 0..<5 { settling.add(Self.item()) }
        #expect(settling.takeGathered().count == 5)
        #expect(settling.takeGathered().isEmpty)
        settling.add(Self.item())
        settling.add(Self.item())
        #expect(await settling.next()?.count == 2, "gathered before next(): both at once, no wait")
        settling.close()
        #expect(await settling.next() == nil, "closed and empty")
    }
}
