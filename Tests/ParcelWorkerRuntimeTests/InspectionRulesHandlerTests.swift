import Foundation
import ParcelCore
import ParcelTestSupport
import ParcelWorkerRuntime
import Testing

/// The inspection rules handler: held with the rules named, or completed with the inspection
/// recorded; and through the task processor, a forged task cannot drop a blocked item.
@Suite("Inspection rules handler")
struct InspectionRulesHandlerTests {
    static let start = Date(timeIntervalSince1970: 1_796_000_000)
    static let rules = InspectionRules(defaults: .init(blockedItems: ["batteries"]),
                                       facilities: [sampleParcel.recipient.facility: .init(maxWeightGrams: 500, acceptsDrawings: false)])

    func inspectionTask(_ parcel: Parcel) -> TaskEnvelope {
        TaskEnvelope(parcel: parcel, stage: .inspection, createdAt: Self.start, submittedAt: Self.start,
                     payload: StagePayload(collectedAt: Self.start, collectionPoint: "depot-north", packedAt: Self.start, box: .smallBox))
    }

    func context(_ task: TaskEnvelope) -> HandlerContext { HandlerContext(task, timeout: .seconds(5)) }

    @Test("no rule broken: completed, the stage's payload recorded at the handler's time")
    func passes() async throws {
        var parcel = sampleParcel
        parcel.contents.drawings = 0
        let task = inspectionTask(parcel)
        let inspected = Self.start.addingTimeInterval(60)
        let handler = InspectionRulesHandler(rules: Self.rules, now: { inspected })
        let outcome = try await handler.handle(task, context: context(task))
        var expected = task.payload
        expected.inspectedAt = inspected
        #expect(outcome == .completed(expected))
        #expect(outcome == .completed(task.payload.fillingIn(recordedBy: .inspection, from: task, at: inspected)))
    }

    @Test("rules broken: held, every broken rule named in the reason; the same answer for a repeat")
    func holds() async throws {
        var parcel = sampleParcel
        parcel.weightGrams = 900
        parcel.contents.items = ["chocolate", "Batteries"]
        let task = inspectionTask(parcel)
        let handler = InspectionRulesHandler(rules: Self.rules)
        let expected = StageOutcome.held(reason: "rule defaults.blocked_items[0]: the declared item 'Batteries' is blocked; "
            + #"rule facilities["Ward 3, St. Mary's — North wing 🏥"].max_weight_grams: the parcel weighs 900 g, over the limit of 500 g; "#
            + #"rule facilities["Ward 3, St. Mary's — North wing 🏥"].accepts_drawings: the facility accepts no drawings (1 declared)"#)
        #expect(try await handler.handle(task, context: context(task)) == expected)
        var again = task
        again.attempt = 2
        #expect(try await handler.handle(again, context: context(again)) == expected)
    }

    @Test("through the processor: a held parcel ends held with the reason; a forged copy without its blocked item is dead-lettered, not inspected")
    func throughTheProcessor() async throws {
        let store = InMemoryStatusStore()
        var parcel = sampleParcel
        parcel.contents = .init(letters: 1, drawings: 0, items: ["batteries"])
        _ = try await store.submit([parcel], at: Self.start)
        for transition in [Transition.queued(.collection), .started(.collection, attempt: 1), .completed(.collection),
                           .started(.packaging, attempt: 1), .completed(.packaging)] {
            _ = try await store.apply(transition, to: parcel.id)
        }
        var handlers: [Stage: any StageHandler] = [:]
        for stage in Stage.allCases { handlers[stage] = SimulatedStageHandler(stage: stage, seed: 1) }
        handlers[.inspection] = InspectionRulesHandler(rules: Self.rules)
        let processor = TaskProcessor(store: store, handlers: handlers,
                                      retry: RetryPolicy(maxAttempts: 3, delays: [.milliseconds(100)]), worker: "test/1")

        // The forged copy first: the same id, the blocked item dropped.
        var forged = parcel
        forged.contents.items = []
        let refused = try await processor.process(body: inspectionTask(forged).encoded(), queueStage: .inspection)
        #expect(refused.outcome == .deadLettered)
        #expect(try await store.record(parcel.id)?.status == .queued(.inspection))

        let decision = try await processor.process(body: inspectionTask(parcel).encoded(), queueStage: .inspection)
        #expect(decision == TaskDecision(outcome: .held, publish: nil))
        let status = try #require(try await store.record(parcel.id)?.status)
        #expect(status == .held(.inspection, reason: "rule defaults.blocked_items[0]: the declared item 'batteries' is blocked"))
    }
}
