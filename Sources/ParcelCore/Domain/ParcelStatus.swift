/// Where a parcel is in its life: the one status used by the store, the CLI, metrics and dashboards.
///
///     submitted → queued(collection) → processing(collection) → queued(packaging) → … → delivered
///                       ↘ retrying(stage) ↗          ↘ held(stage)   ↘ dead-lettered(stage)
///                                                       ↘ returned(stage)   (a person: `parcelctl return`)
///
/// `held` (a stage's handler kept the parcel back, with a reason: inspection's rules, a carrier that
/// answered 423) is a business outcome, not an error; it waits for a person, who releases it (it
/// goes on, ``Transition/released(_:note:)``) or returns it to its sender (``returned(_:reason:)``,
/// final). `retrying` (a passing failure, tried again later) and `deadLettered` (given up, needs a
/// person) are different states.
public enum ParcelStatus: Sendable, Hashable, CustomStringConvertible {
    /// Recorded, not yet confirmed on a queue by the broker.
    case submitted
    /// The broker confirmed the stage's task; waiting for a worker.
    case queued(Stage)
    case processing(Stage)
    /// Failed for a passing reason; a later attempt is scheduled.
    case retrying(Stage)
    /// The stage's handler kept the parcel back, for a person to review. Final until released.
    case held(Stage, reason: String)
    /// A person ended a held parcel as returned to its sender (held at `stage`). Final.
    case returned(Stage, reason: String)
    /// Final.
    case delivered
    /// Given up at `stage`; waits in the dead-letter queue for a person. Final until replayed.
    case deadLettered(Stage, reason: String)

    /// The state's name as stored and shown: submitted, queued, processing, retrying, held, delivered,
    /// dead_lettered, returned.
    public var state: State {
        switch self {
        case .submitted: .submitted
        case .queued: .queued
        case .processing: .processing
        case .retrying: .retrying
        case .held: .held
        case .delivered: .delivered
        case .deadLettered: .deadLettered
        case .returned: .returned
        }
    }

    /// The stage the parcel is at, when it is in one.
    public var stage: Stage? {
        switch self {
        case .queued(let s), .processing(let s), .retrying(let s), .deadLettered(let s, _), .held(let s, _),
             .returned(let s, _): s
        case .delivered: .delivery
        case .submitted: nil
        }
    }

    public var isFinal: Bool { state.isFinal }

    public var description: String {
        switch self {
        case .submitted: "submitted"
        case .queued(let s): "queued for \(s)"
        case .processing(let s): "in \(s)"
        case .retrying(let s): "retrying \(s)"
        case .held(let s, let reason): "held at \(s): \(reason)"
        case .returned(let s, let reason): "returned to sender (held at \(s)): \(reason)"
        case .delivered: "delivered"
        case .deadLettered(let s, let reason): "dead-lettered at \(s): \(reason)"
        }
    }

    public enum State: String, Sendable, CaseIterable {
        case submitted, queued, processing, retrying, held, delivered
        case deadLettered = "dead_lettered"
        case returned

        /// Held, delivered, dead-lettered or returned: nothing more happens to the parcel by itself.
        public var isFinal: Bool { self == .held || self == .delivered || self == .deadLettered || self == .returned }

        /// How many of `counts` are in a final state.
        public static func finalCount(_ counts: [State: Int]) -> Int {
            counts.reduce(0) { $0 + ($1.key.isFinal ? $1.value : 0) }
        }
    }

    /// Rebuilds a status from its stored parts; nil when they do not fit together.
    public init?(state: State, stage: Stage?, reason: String?) {
        switch (state, stage) {
        case (.submitted, _): self = .submitted
        case (.queued, let s?): self = .queued(s)
        case (.processing, let s?): self = .processing(s)
        case (.retrying, let s?): self = .retrying(s)
        // Only inspection could hold before any stage could: such rows say inspection (nil reads so too).
        case (.held, let s): self = .held(s ?? .inspection, reason: reason ?? "")
        case (.returned, let s?): self = .returned(s, reason: reason ?? "")
        case (.delivered, _): self = .delivered
        case (.deadLettered, let s?): self = .deadLettered(s, reason: reason ?? "")
        default: return nil
        }
    }

    /// The reason of a held, dead-lettered or returned parcel.
    public var reason: String? {
        switch self {
        case .held(_, let reason), .deadLettered(_, let reason), .returned(_, let reason): reason
        default: nil
        }
    }
}
