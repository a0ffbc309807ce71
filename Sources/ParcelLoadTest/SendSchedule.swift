import Foundation

/// When each parcel of an open-loop run is due: parcel i at start + i/R, whatever happened to the
/// parcels before it.
///
/// A closed-loop submitter sends the next parcel when the last one was confirmed, so a slow confirm
/// delays every later send and the latency it caused is never measured (coordinated omission). An
/// open-loop submitter asks this schedule what is due by now and sends it; its latency is measured from
/// the due time, so a submitter that fell behind shows as latency too.
///
/// A schedule is one or more steps, each a rate and a number of parcels (a ramp); a step's first parcel
/// is due one interval of the step before it after that step's last.
public struct SendSchedule: Sendable, Equatable {
    public struct Step: Sendable, Equatable {
        /// Parcels per second.
        public var rate: Double
        public var count: Int

        public init(rate: Double, count: Int) {
            self.rate = rate
            self.count = count
        }
    }

    public let steps: [Step]
    /// The offset, in seconds, at which each step begins, and its first parcel's index.
    private let stepStarts: [(seconds: Double, index: Int)]

    public static func == (lhs: SendSchedule, rhs: SendSchedule) -> Bool { lhs.steps == rhs.steps }

    /// Rates must be above 0 and finite, counts 0 or more (checked by the caller: the command's flags).
    public init(steps: [Step]) {
        self.steps = steps
        var starts: [(Double, Int)] = []
        var seconds = 0.0
        var index = 0
        for step in steps {
            starts.append((seconds, index))
            seconds += Double(step.count) / step.rate
            index += step.count
        }
        stepStarts = starts
    }

    public init(rate: Double, count: Int) {
        self.init(steps: [Step(rate: rate, count: count)])
    }

    /// Parcels in the whole schedule.
    public var count: Int { steps.reduce(0) { $0 + $1.count } }

    /// Which step parcel `index` belongs to.
    public func step(of index: Int) -> Int {
        var step = 0
        while step + 1 < stepStarts.count, stepStarts[step + 1].index <= index { step += 1 }
        return step
    }

    /// Seconds after the start at which parcel `index` is due.
    public func seconds(of index: Int) -> Double {
        let step = step(of: index)
        let start = stepStarts[step]
        return start.seconds + Double(index - start.index) / steps[step].rate
    }

    /// When parcel `index` is due, after the start.
    public func offset(of index: Int) -> Duration {
        Duration.nanoseconds(Int64((seconds(of: index) * 1e9).rounded()))
    }

    /// When the last parcel is due: the end of the sending period.
    public var length: Duration { count == 0 ? .zero : offset(of: count - 1) }

    /// When a submitter that last woke at `lastWake` (after the start) next wakes for parcel `next`: when
    /// that parcel is due, but not sooner than one `tick` after the last wake, so that at a high rate
    /// what fell due during a tick goes in one chunk rather than one parcel at a time.
    public func wake(for next: Int, after lastWake: Duration, tick: Duration) -> Duration {
        Swift.max(offset(of: next), lastWake + tick)
    }

    /// The parcels from `next` on that are due `elapsed` after the start: at most `limit` of them, so a
    /// submitter that fell behind catches up in chunks rather than one huge batch.
    public func due(from next: Int, at elapsed: Duration, limit: Int) -> Range<Int> {
        let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var end = next
        let last = Swift.min(count, next + Swift.max(1, limit))
        while end < last, seconds(of: end) <= elapsedSeconds { end += 1 }
        return next..<end
    }
}

/// A rate (`500/s`, `30/m`) or a time (`60s`, `10m`, `250ms`) from a flag: clear errors, bounds that keep
/// the arithmetic after them from trapping.
public enum LoadFlags {
    /// The highest rate a run may ask for, parcels per second.
    public static let maxRate = 100_000.0
    /// The most parcels a scheduled run may submit (rate × duration).
    public static let maxParcels = 1_000_000
    /// The longest time a flag may give.
    public static let maxSeconds = 86_400.0

    /// `500/s` or `30/m` (`/min` too): parcels per second, above 0 and at most ``maxRate``.
    public static func rate(_ text: String) -> Double? {
        let text = text.filter { !$0.isWhitespace }
        let units: [(String, Double)] = [("/s", 1), ("/m", 60), ("/min", 60)]
        guard let (suffix, per) = units.first(where: { text.hasSuffix($0.0) }),
              let value = Double(text.dropLast(suffix.count)), value.isFinite else { return nil }
        let rate = value / per
        return rate > 0 && rate <= maxRate ? rate : nil
    }

    /// `250ms`, `60s`, `10m`, `1h` (a decimal number is allowed: `1.5s`): seconds, above 0 and at most
    /// ``maxSeconds``.
    public static func seconds(_ text: String) -> Double? {
        let text = text.filter { !$0.isWhitespace }
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        guard let (suffix, factor) = units.first(where: { text.hasSuffix($0.0) }),
              let value = Double(text.dropLast(suffix.count)), value.isFinite else { return nil }
        let seconds = value * factor
        return seconds > 0 && seconds <= maxSeconds ? seconds : nil
    }
}
