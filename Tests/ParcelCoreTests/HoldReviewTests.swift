import Foundation
import ParcelCore
import ParcelTestSupport
import Testing

/// What `parcelctl release` and `return` decide for each id before changing anything, the task a
/// release sends, and the checks on what a reviewer types.
@Suite("Hold review: the checks before anything changes")
struct HoldReviewTests {
    static let start = Date(timeIntervalSince1970: 1_796_083_200)

    static func record(_ progress: ParcelProgress, erased: Bool = false) -> ParcelRecord {
        erased
            ? ParcelRecord(erasedParcel: sampleParcel.id, progress: progress, submittedAt: start, updatedAt: start,
                           lastError: nil, erasedAt: start)
            : ParcelRecord(parcel: sampleParcel, progress: progress, submittedAt: start, updatedAt: start, lastError: nil)
    }

    static func event(_ kind: ParcelEvent.Kind, _ stage: Stage, at second: Double) -> ParcelEvent {
        ParcelEvent(parcelID: sampleParcel.id, kind: kind, stage: stage, at: start.addingTimeInterval(second))
    }

    static let heldAtInspection = ParcelProgress(status: .held(.inspection, reason: "battery"), stagesDone: 2, attempts: 1)
    static let releasedHistory = [event(.completed, .collection, at: 10), event(.completed, .packaging, at: 20),
                                  event(.held, .inspection, at: 30), event(.released, .inspection, at: 40)]
    static let release = HoldReview.Decision.release(note: "fine")
    static let giveBack = HoldReview.Decision.returnToSender(reason: "battery")

    @Test("release: held decides; released before and still waiting republishes; moved on does not; else refused")
    func releaseSteps() {
        #expect(HoldReview.step(Self.release, record: nil, history: []) == .refused("no parcel has this id"))
        #expect(HoldReview.step(Self.release, record: Self.record(Self.heldAtInspection), history: []) == .decide(.inspection))
        let waiting = Self.record(ParcelProgress(status: .queued(.delivery), stagesDone: 3, attempts: 0))
        #expect(HoldReview.step(Self.release, record: waiting, history: Self.releasedHistory) == .alreadyReleased(.inspection, republish: true))
        let movedOn = Self.record(ParcelProgress(status: .processing(.delivery), stagesDone: 3, attempts: 1))
        #expect(HoldReview.step(Self.release, record: movedOn, history: Self.releasedHistory) == .alreadyReleased(.inspection, republish: false))
        // Queued at delivery without any release in its history: not held, refused.
        guard case .refused(let why) = HoldReview.step(Self.release, record: waiting, history: Array(Self.releasedHistory.prefix(2))) else {
            Issue.record("a parcel never held was not refused")
            return
        }
        #expect(why == "not held: it is queued for delivery")
        let returned = Self.record(ParcelProgress(status: .returned(.inspection, reason: "r"), stagesDone: 2, attempts: 1))
        #expect(HoldReview.step(Self.release, record: returned, history: Self.releasedHistory).isRefused)
        #expect(HoldReview.step(Self.release, record: Self.record(Self.heldAtInspection, erased: true), history: []).isRefused,
                "an erased parcel has no task left to send")
    }

    @Test("return: held decides; returned before is done; anything else is refused")
    func returnSteps() {
        #expect(HoldReview.step(Self.giveBack, record: Self.record(Self.heldAtInspection), history: []) == .decide(.inspection))
        #expect(HoldReview.step(Self.giveBack, record: Self.record(Self.heldAtInspection, erased: true), history: []) == .decide(.inspection))
        let returned = Self.record(ParcelProgress(status: .returned(.packaging, reason: "r"), stagesDone: 1, attempts: 1))
        #expect(HoldReview.step(Self.giveBack, record: returned, history: []) == .alreadyReturned(.packaging))
        for status: ParcelStatus in [.submitted, .queued(.delivery), .delivered, .deadLettered(.collection, reason: "x")] {
            let other = Self.record(ParcelProgress(status: status, stagesDone: 0, attempts: 0))
            #expect(HoldReview.step(Self.giveBack, record: other, history: Self.releasedHistory) == .refused("not held: it is \(status)"))
        }
        #expect(HoldReview.step(Self.giveBack, record: nil, history: []).isRefused)
        #expect(HoldReview.distinct(["b", "a", "b", "c", "a"]) == ["b", "a", "c"])
    }

    @Test("a released parcel's task: the next stage, attempt 1, every field the stage needs, timed by the history")
    func releasedTask() throws {
        let now = Self.start.addingTimeInterval(99)
        let task = HoldReview.releasedTask(sampleParcel, submittedAt: Self.start, heldAt: .inspection,
                                           history: Self.releasedHistory, now: now)
        #expect(task.stage == .delivery && task.attempt == 1 && task.createdAt == now && task.submittedAt == Self.start)
        #expect(task.payload.collectedAt == Self.start.addingTimeInterval(10))
        #expect(task.payload.packedAt == Self.start.addingTimeInterval(20))
        #expect(task.payload.inspectedAt == Self.start.addingTimeInterval(40), "the held stage is done when released")
        #expect(task.payload.collectionPoint == sampleParcel.origin && task.payload.box != nil)
        // It is a valid task for its stage, as a worker reads it.
        #expect(try TaskEnvelope.decode(task.encoded()).get() == task)

        let atDelivery = HoldReview.releasedTask(sampleParcel, submittedAt: Self.start, heldAt: .delivery, history: [], now: now)
        #expect(atDelivery.stage == .delivery && atDelivery.payload.inspectedAt == now)
        #expect(try TaskEnvelope.decode(atDelivery.encoded()).get().stage == .delivery)
        let atCollection = HoldReview.releasedTask(sampleParcel, submittedAt: Self.start, heldAt: .collection, history: [], now: now)
        #expect(atCollection.stage == .packaging && atCollection.payload.collectedAt == now && atCollection.payload.packedAt == nil)
    }

    @Test("a note or reason: trimmed; refused when empty, too long, or with a control, bidirectional or separator character",
          arguments: [
              ("  fine  ", "fine"),
              ("ok: Ünïcödé and 🏥", "ok: Ünïcödé and 🏥"),
              (String(repeating: "x", count: 500), String(repeating: "x", count: 500)),
          ])
    func acceptedText(text: String, expected: String) {
        #expect(ReviewText.checked(text, field: "--note") == .success(expected))
    }

    @Test("refused texts say what and where", arguments: [
        ("", "--note is empty"),
        ("   ", "--note is empty"),
        (String(repeating: "x", count: 501), "--note is 501 characters long; at most 500 are allowed"),
        ("ok\u{1B}[2J", "--note holds a control character (U+001B) at character 3"),
        ("two\nlines", "--note holds a control character (U+000A) at character 4"),
        ("abc\u{202E}cba", "--note holds a control character (U+202E) at character 4"),
        ("tab\there", "--note holds a control character (U+0009) at character 4"),
        ("line\u{2028}sep", "--note holds a control character (U+2028) at character 5"),
        ("bell\u{07}", "--note holds a control character (U+0007) at character 5"),
    ])
    func refusedText(text: String, message: String) {
        guard case .failure(let refusal) = ReviewText.checked(text, field: "--note") else {
            Issue.record("accepted: \(text.debugDescription)")
            return
        }
        #expect(refusal.description.hasPrefix(message), "\(refusal)")
    }

    @Test("the reviewer: the account's name, else $USER, else the user id; never a name with control characters")
    func reviewer() {
        #expect(ReviewText.reviewer(accountName: "amina", environmentUser: "someone", userID: 1000) == "amina")
        #expect(ReviewText.reviewer(accountName: nil, environmentUser: "yusuf", userID: 1000) == "yusuf")
        #expect(ReviewText.reviewer(accountName: "evil\u{1B}[2J", environmentUser: "yusuf", userID: 1000) == "yusuf")
        #expect(ReviewText.reviewer(accountName: "", environmentUser: String(repeating: "y", count: 65), userID: 1000) == "uid 1000")
        #expect(ReviewText.reviewer(accountName: nil, environmentUser: nil, userID: 0) == "uid 0")
    }
}
