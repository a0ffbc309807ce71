import Foundation
import ParcelCore
import PostgresNIO

/// Erasure and pruning (`parcelctl erase`, `prune`): the two changes the history's trigger lets by.
extension PostgresStatusStore {
    public func erase(_ parcelIDs: [String], at time: Date) async throws(StatusStoreError) -> [String: Erasure] {
        let operation = parcelIDs.count == 1 ? "erase parcel \(parcelIDs[0])" : "erase \(parcelIDs.count) parcels"
        guard !parcelIDs.isEmpty else { return [:] }
        return try await perform(operation) {
            try await transaction { connection in
                var outcomes: [String: Erasure] = [:]
                var found: [String: (progress: ParcelProgress, erasedAt: Int64?)] = [:]
                let select = Self.query(PostgresSQL.selectForErasure) { $0.append(parcelIDs) }
                for try await (id, state, stage, stagesDone, attempts, lastError, erasedAt) in try await connection.query(
                    select, logger: logger).decode((String, String, String?, Int, Int, String?, Int64?).self) {
                    found[id] = (try ParcelProgress(state: state, stage: stage, stagesDone: stagesDone, attempts: attempts,
                                                    lastError: lastError, parcelID: id, operation: operation), erasedAt)
                }
                var erasing: [String] = []
                for id in parcelIDs where outcomes[id] == nil {
                    guard let row = found[id] else {
                        outcomes[id] = .unknown
                        continue
                    }
                    if let erasedAt = row.erasedAt {
                        outcomes[id] = .alreadyErased(Date(milliseconds: erasedAt))
                    } else if !row.progress.status.isFinal {
                        outcomes[id] = .notFinal(row.progress.status)
                    } else {
                        outcomes[id] = .erased
                        erasing.append(id)
                    }
                }
                guard !erasing.isEmpty else { return outcomes }
                let anonymous = erasing.map { JSONValue.object(["id": .string($0)]).serialized() }
                try await connection.query(Self.query(PostgresSQL.eraseParcels) {
                    $0.append(erasing)
                    $0.append(anonymous)
                    $0.append(time.unixMilliseconds)
                }, logger: logger)
                try await connection.query(Self.query(PostgresSQL.eraseHistory) { $0.append(erasing) }, logger: logger)
                return outcomes
            }
        }
    }

    public func prune(finishedBefore date: Date, limit: Int) async throws(StatusStoreError) -> Int {
        let operation = "prune parcels finished before \(Timestamp.format(date))"
        return try await perform(operation) {
            try await transaction { connection in
                let select = Self.query(PostgresSQL.selectFinishedBefore) {
                    $0.append(date.unixMilliseconds)
                    $0.append(Int64(max(0, limit)))
                }
                var ids: [String] = []
                for try await id in try await connection.query(select, logger: logger).decode(String.self) { ids.append(id) }
                guard !ids.isEmpty else { return 0 }
                // The history first: its lines refer to the parcel's row.
                try await connection.query(Self.query(PostgresSQL.deleteHistory) { $0.append(ids) }, logger: logger)
                try await connection.query(Self.query(PostgresSQL.deleteParcels) { $0.append(ids) }, logger: logger)
                return ids.count
            }
        }
    }
}
