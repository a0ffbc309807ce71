import Foundation
import ParcelCore
import ParcelTestSupport
import ParcelWorkerRuntime
import Testing

/// `Transition.released` and `.returned`: the rules every store applies when a person reviews a held
/// parcel, and the checks `parcelctl release` / `return` make before they change anything.
@Suite("Reviewing a held parcel")
struct HoldReviewRulesTests {
    static func held(_ stage: Stage, attempts: Int = 1) -> ParcelProgress {
        ParcelProgress(status: .held(stage, reason: "kept back at \(stage)"), stagesDone: stage.index, attempts: attempts)
    }

    @Test("released: held at a stage, the parcel is queued at the next one with no attempts", arguments: [
        (Stage.collection, Stage.packaging), (.packaging, .inspection), (.inspection, .delivery),
    ])
    func releaseGoesOn(held stage: Stage, next: Stage) {
        let (after, outcome) = Self.held(stage).applying(.released(stage, note: "fine"))
        #expect(outcome == .applied)
        #expect(after == ParcelProgress(status: .queued(next), stagesDone: next.index, attempts: 0))
        // The next stage's task runs from attempt 1.
        let (started, startOutcome) = after.applying(.started(next, attempt: 1))
        #expect(startOutcome == .applied && started.status == .processing(next))
    }

    @Test("released at delivery, the last stage: queued for delivery again, from attempt 1, and then delivered")
    func releaseAtDelivery() {
        let (after, outcome) = Self.held(.delivery, attempts: 3).applying(.released(.delivery, note: nil))
        #expect(outcome == .applied)
        #expect(after == ParcelProgress(status: .queued(.delivery), stagesDone: 3, attempts: 0))
        let (started, _) = after.applying(.started(.delivery, attempt: 1))
        #expect(started.applying(.completed(.delivery)).0.status == .delivered)
        #expect(ParcelProgress.releaseTarget(.delivery) == .delivery)
    }

    @Test("returned: held becomes returned, final, keeping its stage and stages done")
    func returnEnds() {
        let (after, outcome) = Self.held(.packaging).applying(.returned(.packaging, reason: "the sender asked"))
        #expect(outcome == .applied)
        #expect(after == ParcelProgress(status: .returned(.packaging, reason: "the sender asked"), stagesDone: 1, attempts: 1))
        #expect(after.status.isFinal && after.status.state == .returned && after.status.stage == .packaging)
        // Nothing a worker or a person does moves it again.
        for transition: Transition in [.completed(.packaging), .started(.packaging, attempt: 2), .held(.packaging, reason: "x"),
                                       .released(.packaging, note: nil), .replayed(.packaging), .queued(.inspection)] {
            let (again, refused) = after.applying(transition)
            #expect(refused == .stale && again == after, "\(transition)")
        }
    }

    static let releasedToDelivery = ParcelProgress(status: .queued(.delivery), stagesDone: 3, attempts: 0)

    @Test("a repeat is a duplicate; any other stage or state is stale, and changes nothing", arguments: [
        // release
        (releasedToDelivery, Transition.released(.inspection, note: "again"), TransitionOutcome.duplicate),
        (releasedToDelivery, .released(.delivery, note: nil), .duplicate),
        (held(.inspection), .released(.packaging, note: nil), .stale),
        (held(.inspection), .released(.delivery, note: nil), .stale),
        (ParcelProgress(status: .processing(.delivery), stagesDone: 3, attempts: 1), .released(.inspection, note: nil), .stale),
        (ParcelProgress(status: .queued(.packaging), stagesDone: 1, attempts: 0), .released(.packaging, note: nil), .stale),
        (ParcelProgress(status: .deadLettered(.packaging, reason: "x"), stagesDone: 1, attempts: 3), .released(.packaging, note: nil), .stale),
        (ParcelProgress(status: .delivered, stagesDone: 4, attempts: 0), .released(.delivery, note: nil), .stale),
        (ParcelProgress.submitted, .released(.collection, note: nil), .stale),
        // return
        (ParcelProgress(status: .returned(.inspection, reason: "r"), stagesDone: 2, attempts: 1), .returned(.inspection, reason: "again"), .duplicate),
        (ParcelProgress(status: .returned(.inspection, reason: "r"), stagesDone: 2, attempts: 1), .returned(.packaging, reason: "r"), .stale),
        (held(.inspection), .returned(.delivery, reason: "r"), .stale),
        (releasedToDelivery, .returned(.inspection, reason: "too late"), .stale),
        (ParcelProgress(status: .queued(.collection), stagesDone: 0, attempts: 0), .returned(.collection, reason: "r"), .stale),
        (ParcelProgress(status: .delivered, stagesDone: 4, attempts: 0), .returned(.delivery, reason: "r"), .stale),
        (ParcelProgress(status: .deadLettered(.collection, reason: "x"), stagesDone: 0, attempts: 3), .returned(.collection, reason: "r"), .stale),
    ])
    func refused(progress: ParcelProgress, transition: Transition, expected: TransitionOutcome) {
        let (next, outcome) = progress.applying(transition)
        #expect(outcome == expected)
        #expect(next == progress, "a refused or repeated decision changes nothing")
    }

    @Test("held is recorded at the stage that held; rows from before say inspection")
    func heldAtAnyStage() {
        let queued = ParcelProgress(status: .queued(.delivery), stagesDone: 3, attempts: 0)
        let (held, outcome) = queued.applying(.held(.delivery, reason: "carrier: 423"))
        #expect(outcome == .applied && held.status == .held(.delivery, reason: "carrier: 423") && held.stagesDone == 3)
        #expect(held.applying(.held(.delivery, reason: "carrier: 423")).1 == .duplicate)
        #expect(queued.applying(.held(.inspection, reason: "not its stage")).1 == .stale)
        #expect(ParcelStatus(state: .held, stage: nil, reason: "old") == .held(.inspection, reason: "old"))
        #expect(ParcelStatus(state: .held, stage: .inspection, reason: "old") == .held(.inspection, reason: "old"))
        #expect(ParcelStatus(state: .returned, stage: nil, reason: "r") == nil, "a returned row always has its stage")
        #expect(ParcelStatus.held(.delivery, reason: "moved").description == "held at delivery: moved")
        #expect(ParcelStatus.returned(.inspection, reason: "battery").description == "returned to sender (held at inspection): battery")
    }

    @Test("the history lines: released with the note, returned with the reason, both with who")
    func events() {
        let at = Date(timeIntervalSince1970: 1_796_000_000)
        #expect(ParcelEvent(.released(.inspection, note: "ok"), parcelID: "P-1", worker: "amina", at: at)
            == ParcelEvent(parcelID: "P-1", kind: .released, stage: .inspection, detail: "ok", worker: "amina", at: at))
        #expect(ParcelEvent(.returned(.delivery, reason: "moved"), parcelID: "P-1", worker: "amina", at: at)
            == ParcelEvent(parcelID: "P-1", kind: .returned, stage: .delivery, detail: "moved", worker: "amina", at: at))
        #expect(ParcelEvent(.held(.packaging, reason: "torn"), parcelID: "P-1", worker: "w/1", at: at).stage == .packaging)
    }
}
