import Foundation
import ParcelCore

/// `parcelctl bench decode`: how long a worker takes to read a task, on the fast path
/// (``TaskEnvelope/scanValid(_:)``) and the thorough one (``TaskEnvelope/decodeThoroughly(_:)``), and
/// to write one (``TaskEnvelope/encoded()``), with no broker.
///
/// The tasks are what workers write: generated parcels spread evenly over the four stages, each
/// carrying what the stages before it record, in a worker's own encoding. Each round times every
/// task once per reading; the report gives each round and the medians, in nanoseconds per task.
public struct DecodeBenchmark: Sendable {
    public struct Options: Sendable {
        public var tasks = 4_000
        public var rounds = 9

        public init() {}
    }

    public struct Round: Sendable, Encodable {
        public let scanNanoseconds: Double
        public let thoroughNanoseconds: Double
        public let encodeNanoseconds: Double

        enum CodingKeys: String, CodingKey {
            case scanNanoseconds = "scan_ns_per_task"
            case thoroughNanoseconds = "thorough_ns_per_task"
            case encodeNanoseconds = "encode_ns_per_task"
        }
    }

    public struct Report: Sendable, Encodable {
        public let tasks: Int
        public let meanBodyBytes: Int
        public let rounds: [Round]
        public let scanNanoseconds: Double
        public let thoroughNanoseconds: Double
        public let encodeNanoseconds: Double

        enum CodingKeys: String, CodingKey {
            case tasks, rounds
            case meanBodyBytes = "mean_body_bytes"
            case scanNanoseconds = "scan_ns_per_task"
            case thoroughNanoseconds = "thorough_ns_per_task"
            case encodeNanoseconds = "encode_ns_per_task"
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// Tasks as workers write them: every stage in turn, with what the stages before it recorded.
    public static func tasks(_ count: Int) -> [TaskEnvelope] {
        let submitted = Date(timeIntervalSince1970: 1_796_117_400.250)  // 2026-12-01T09:30:00.250Z
        return ParcelGenerator(seed: 13).parcels(count).enumerated().map { index, parcel in
            let stage = Stage.allCases[index % Stage.allCases.count]
            let collected = submitted.addingTimeInterval(600 + Double(index % 97))
            let packed = collected.addingTimeInterval(1_200.125)
            let inspected = packed.addingTimeInterval(900.5)
            let boxes = StagePayload.Box.allCases
            let payload: StagePayload = switch stage {
            case .collection: StagePayload()
            case .packaging: StagePayload(collectedAt: collected, collectionPoint: parcel.origin)
            case .inspection: StagePayload(collectedAt: collected, collectionPoint: parcel.origin, packedAt: packed,
                                           box: boxes[index % boxes.count])
            case .delivery: StagePayload(collectedAt: collected, collectionPoint: parcel.origin, packedAt: packed,
                                         box: boxes[index % boxes.count], inspectedAt: inspected)
            }
            let created = [submitted, collected, packed, inspected][stage.index].addingTimeInterval(0.5)
            var task = TaskEnvelope(parcel: parcel, stage: stage, attempt: 1 + index % 3 / 2, createdAt: created,
                                    submittedAt: submitted, payload: payload)
            // Any other field an earlier stage records (StagePayload.fields), as its stand-in.
            for earlier in Stage.allCases where earlier < stage {
                task.payload = task.payload.fillingIn(recordedBy: earlier, from: task, at: created)
            }
            return task
        }
    }

    /// Runs the benchmark; `progress` receives one line per finished round. Fails if a reading does
    /// not give back the task that was written.
    public func run(progress: (String) -> Void = { _ in }) throws(Failure) -> Report {
        guard options.tasks > 0, options.rounds > 0 else { throw Failure(description: "tasks and rounds must be positive") }
        let tasks = Self.tasks(options.tasks)
        let bodies = tasks.map { $0.encoded() }
        for (task, body) in zip(tasks, bodies) {
            guard TaskEnvelope.scanValid(body) == task, (try? TaskEnvelope.decodeThoroughly(body).get()) == task else {
                throw Failure(description: "not read back as written: \(String(decoding: body, as: UTF8.self))")
            }
        }
        var rounds: [Round] = []
        var sink = 0
        for round in 1...options.rounds {
            let scan = Self.nanosecondsPerItem(bodies) { sink &+= TaskEnvelope.scanValid($0)?.attempt ?? 1 }
            let thorough = Self.nanosecondsPerItem(bodies) {
                sink &+= (try? TaskEnvelope.decodeThoroughly($0).get())?.attempt ?? 1
            }
            let encode = Self.nanosecondsPerItem(tasks) { sink &+= $0.encoded().count }
            rounds.append(Round(scanNanoseconds: scan, thoroughNanoseconds: thorough, encodeNanoseconds: encode))
            progress(String(format: "round %d: scan %.0f ns, thorough %.0f ns, encode %.0f ns per task", round, scan,
                            thorough, encode))
        }
        // Keeps the results alive, so that no reading can be optimized away.
        guard sink != 0 else { throw Failure(description: "nothing was read") }
        return Report(tasks: tasks.count, meanBodyBytes: bodies.reduce(0) { $0 + $1.count } / bodies.count, rounds: rounds,
                      scanNanoseconds: median(rounds.map(\.scanNanoseconds)),
                      thoroughNanoseconds: median(rounds.map(\.thoroughNanoseconds)),
                      encodeNanoseconds: median(rounds.map(\.encodeNanoseconds)))
    }

    private static func nanosecondsPerItem<Item>(_ items: [Item], _ body: (Item) -> Void) -> Double {
        let started = ContinuousClock.now
        for item in items { body(item) }
        return (ContinuousClock.now - started) / .nanoseconds(1) / Double(items.count)
    }
}
