import Foundation
import ParcelCore
import Synchronization

/// A stage that pretends to work: it waits a while, fails now and then, and at inspection holds some
/// parcels back. The demo and the load test run it; its faults are what they inject.
public struct SimulatedStageHandler: StageHandler {
    public struct Faults: Sendable, Hashable {
        /// Share of attempts that fail transiently (0…1).
        public var transientRate: Double
        /// Share of attempts that fail permanently (0…1).
        public var permanentRate: Double
        /// Share of inspections that hold the parcel (0…1).
        public var holdRate: Double
        /// Parcels whose processing kills the worker process outright, at every stage: the poison
        /// message the quorum queue's delivery limit is there for.
        public var crashOn: Set<String>

        public init(transientRate: Double = 0, permanentRate: Double = 0, holdRate: Double = 0, crashOn: Set<String> = []) {
            self.transientRate = transientRate
            self.permanentRate = permanentRate
            self.holdRate = holdRate
            self.crashOn = crashOn
        }

        public static let none = Faults()
    }

    public let stage: Stage
    /// Simulated work per task, uniformly between the two bounds.
    public let workTime: ClosedRange<Duration>
    public let faults: Faults
    private let random: SharedRandom
    private let now: @Sendable () -> Date

    public init(stage: Stage, workTime: ClosedRange<Duration> = .zero ... .zero, faults: Faults = .none,
                seed: UInt64 = UInt64.random(in: 0...UInt64.max), now: @escaping @Sendable () -> Date = Date.init) {
        self.stage = stage
        self.workTime = workTime
        self.faults = faults
        self.random = SharedRandom(seed: seed)
        self.now = now
    }

    public func handle(_ task: TaskEnvelope, context: HandlerContext) async throws(TaskFailure) -> StageOutcome {
        if faults.crashOn.contains(task.parcelID) {
            // Simulated: a bug that takes the whole process down with it.
            fatalError("simulated crash while processing parcel \(task.parcelID) at \(stage)")
        }
        let roll = random.unit()
        if workTime.upperBound > .zero {
            let span = workTime.upperBound - workTime.lowerBound
            let work = workTime.lowerBound + span * random.unit()
            // A graceful stop never cancels a handler: cancellation comes only past the shutdown
            // timeout, when the task is already back in its queue. Cut short then, the attempt failed.
            do {
                try await Task.sleep(for: work)
            } catch {
                throw .transient("simulated work at \(stage) was interrupted: the worker stopped")
            }
        }
        if roll < faults.permanentRate {
            throw .permanent("simulated permanent failure at \(stage)")
        }
        if roll < faults.permanentRate + faults.transientRate {
            throw .transient("simulated transient failure at \(stage) (attempt \(task.attempt))")
        }
        let time = now()
        if stage == .inspection, random.unit() < faults.holdRate {
            return .held(reason: "simulated: inspection found an item that may not be sent")
        }
        // What the stage records: each field's stand-in from the wire format's declaration
        // (`StagePayload.fields`), so a new field is recorded too, with the box chosen by weight.
        var payload = task.payload.fillingIn(recordedBy: stage, from: task, at: time)
        if stage == .packaging {
            payload.box = task.parcel.weightGrams <= 100 ? .envelope : task.parcel.weightGrams <= 2_000 ? .smallBox : .largeBox
        }
        return .completed(payload)
    }
}

/// A seeded generator shared by concurrent tasks.
final class SharedRandom: Sendable {
    private let state: Mutex<SplitMix64>

    init(seed: UInt64) {
        state = Mutex(SplitMix64(seed: seed))
    }

    /// A number in 0..<1.
    func unit() -> Double {
        Double(state.withLock { $0.next() } >> 11) / Double(1 << 53)
    }
}
