import Foundation

// How the stores hold what they keep, in one place for every store: times as unix milliseconds,
// a parcel's progress as five columns, the parcel itself as its task JSON. The SQL stores read and
// write these; the in-memory store needs none of it.

/// Times are stored as integer unix milliseconds, rounded to the nearest so that a millisecond-exact
/// `Date` reads back equal.
extension Date {
    package var unixMilliseconds: Int64 {
        Int64((timeIntervalSince1970 * 1000).rounded())
    }

    package init(milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}

extension ParcelProgress {
    /// A parcel's progress from its row's `state`, `stage`, `stages_done`, `attempts` and `last_error`;
    /// throws if they do not fit together (a row written by something other than a store).
    package init(state stateText: String, stage stageText: String?, stagesDone: Int, attempts: Int, lastError: String?,
                 parcelID: String, operation: String) throws(StatusStoreError) {
        let stage = stageText.flatMap(Stage.init(rawValue:))
        guard let state = ParcelStatus.State(rawValue: stateText), stageText == nil || stage != nil,
              let status = ParcelStatus(state: state, stage: stage, reason: lastError)
        else {
            throw StatusStoreError(operation, "parcel \(parcelID) has a state that does not fit: \(stateText) at \(stageText ?? "no stage")")
        }
        self.init(status: status, stagesDone: stagesDone, attempts: attempts)
    }
}

extension Parcel {
    /// Reads a parcel back from its `parcel_json` column.
    package init(storedJSON json: String, operation: String) throws(StatusStoreError) {
        guard let value = JSONValue.parse(Data(json.utf8)) else {
            throw StatusStoreError(operation, "the stored parcel is not valid JSON")
        }
        switch ParcelParsing.parcel(fromJSON: value) {
        case .success(let parcel): self = parcel
        case .failure(let invalid):
            throw StatusStoreError(operation, "the stored parcel does not read back: \(invalid)")
        }
    }
}

extension ParcelEvent.Kind {
    /// A history line's `kind` column.
    package init(stored text: String, parcelID: String, operation: String) throws(StatusStoreError) {
        guard let kind = Self(rawValue: text) else {
            throw StatusStoreError(operation, "an event of parcel \(parcelID) has an unknown kind '\(text)'")
        }
        self = kind
    }
}

extension Stage {
    /// A `stage` column: nil for NULL, and an error for a name no stage has.
    package static func stored(_ text: String?, operation: String) throws(StatusStoreError) -> Stage? {
        guard let text else { return nil }
        guard let stage = Stage(rawValue: text) else { throw StatusStoreError(operation, "unknown stage '\(text)'") }
        return stage
    }
}

extension ParcelStatus.State {
    /// A `state` column.
    package init(stored text: String?, operation: String) throws(StatusStoreError) {
        guard let state = Self(rawValue: text ?? "") else {
            throw StatusStoreError(operation, "unknown state '\(text ?? "")'")
        }
        self = state
    }
}

extension Transition {
    /// What the transition leaves in `last_error` (as ``InMemoryStatusStore`` does): a retry's error,
    /// a hold's, dead letter's or return's reason; otherwise what was there.
    package func lastError(keeping previous: String?) -> String? {
        switch self {
        case .retrying(_, _, let error): error
        case .held(_, let reason), .deadLettered(_, let reason), .returned(_, let reason): reason
        case .queued, .started, .completed, .replayed, .released: previous
        }
    }

    /// A short name for error messages ("started packaging"), without reasons or error texts.
    package var label: String {
        switch self {
        case .queued(let stage): "queued \(stage)"
        case .started(let stage, let attempt): "started \(stage) (attempt \(attempt))"
        case .completed(let stage): "completed \(stage)"
        case .retrying(let stage, let attempt, _): "retrying \(stage) (attempt \(attempt))"
        case .held(let stage, _): "held \(stage)"
        case .released(let stage, _): "released \(stage)"
        case .returned(let stage, _): "returned \(stage)"
        case .deadLettered(let stage, _): "dead-lettered \(stage)"
        case .replayed(let stage): "replayed \(stage)"
        }
    }
}

extension StatusChange {
    /// The operation a batch of changes is, for error messages.
    package static func operation(_ changes: [StatusChange]) -> String {
        changes.count == 1 ? "apply \(changes[0].transition.label) to parcel \(changes[0].parcelID)" : "apply \(changes.count) changes"
    }
}
