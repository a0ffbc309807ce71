import Foundation
import Synchronization

/// A ``StatusStore`` in memory, for fast tests of the worker loop and the CLI's logic. It follows the
/// same rules as the real stores and passes the same contract tests.
public final class InMemoryStatusStore: StatusStore {
    private struct State {
        var records: [String: ParcelRecord] = [:]
        var events: [ParcelEvent] = []
    }

    private let state = Mutex(State())

    public init() {}

    public func submit(_ parcels: [Parcel], at time: Date) async throws -> SubmitOutcome {
        state.withLock { state in
            var outcome = SubmitOutcome()
            for parcel in parcels {
                if let existing = state.records[parcel.id] {
                    outcome.existing[parcel.id] = existing.status
                    if existing.parcel != parcel { outcome.conflicting.insert(parcel.id) }
                    continue
                }
                state.records[parcel.id] = ParcelRecord(parcel: parcel, progress: .submitted, submittedAt: time,
                                                        updatedAt: time, lastError: nil)
                state.events.append(ParcelEvent(parcelID: parcel.id, kind: .submitted, stage: nil, at: time))
                outcome.created.append(parcel.id)
            }
            return outcome
        }
    }

    public func apply(_ changes: [StatusChange]) async throws -> [TransitionOutcome] {
        state.withLock { state in
            changes.map { change in
                let (id, transition, worker, time) = (change.parcelID, change.transition, change.worker, change.at)
                guard var record = state.records[id] else { return .unknownParcel }
                let (progress, outcome) = record.progress.applying(transition)
                guard outcome == .applied else { return outcome }
                record.progress = progress
                record.updatedAt = time
                switch transition {
                case .retrying(_, _, let error): record.lastError = error
                case .held(let reason), .deadLettered(_, let reason): record.lastError = reason
                default: break
                }
                state.records[id] = record
                state.events.append(ParcelEvent(transition, parcelID: id, worker: worker, at: time))
                return .applied
            }
        }
    }

    public func record(_ parcelID: String) async throws -> ParcelRecord? {
        state.withLock { $0.records[parcelID] }
    }

    public func history(_ parcelID: String) async throws -> [ParcelEvent] {
        state.withLock { $0.events.filter { $0.parcelID == parcelID } }
    }

    public func countsByState() async throws -> [ParcelStatus.State: Int] {
        state.withLock { state in
            state.records.values.reduce(into: [:]) { counts, record in counts[record.status.state, default: 0] += 1 }
        }
    }
}
