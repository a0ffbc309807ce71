import Foundation
import ParcelCore
import PostgresNIO

/// What `parcelctl status`, `summary`, `report`, the dashboard and the load test read.
extension PostgresStatusStore {
    public func countsByState(idPrefix: String?) async throws(StatusStoreError) -> [ParcelStatus.State: Int] {
        let operation = "count parcels by state"
        return try await perform(operation) {
            let query = idPrefix.map { prefix in Self.query(PostgresSQL.countByStateWithPrefix) { $0.append(prefix) } }
                ?? Self.query(PostgresSQL.countByState)
            var counts: [ParcelStatus.State: Int] = [:]
            for try await (state, count) in try await client.query(query, logger: logger).decode((String, Int).self) {
                counts[try ParcelStatus.State(stored: state, operation: operation)] = count
            }
            return counts
        }
    }

    public func finalChange(after cursor: Int64, idPrefix: String?) async throws(StatusStoreError) -> FinalChange {
        try await perform("count the parcels that became final") {
            let query = Self.query(PostgresSQL.finalChange) {
                $0.append(cursor)
                $0.append(idPrefix)
                $0.append(ParcelEvent.replayedDetail)
            }
            var change = FinalChange(cursor: cursor, change: 0)
            for try await (last, sum) in try await client.query(query, logger: logger).decode((Int64?, Int64).self) {
                change = FinalChange(cursor: last ?? cursor, change: Int(sum))
            }
            return change
        }
    }

    public func snapshot(period: DateInterval, recentSince: Date,
                         latestCompletions: Int?) async throws(StatusStoreError) -> StoreSnapshot {
        let operation = "read the report's figures"
        let (start, end) = (period.start.unixMilliseconds, period.end.unixMilliseconds)
        return try await perform(operation) {
            try await transaction(readOnly: true) { connection in
                var snapshot = StoreSnapshot()
                for try await (stage, state, stagesDone, count) in try await connection.query(
                    Self.query(PostgresSQL.countGroups), logger: logger).decode((String?, String, Int, Int).self) {
                    snapshot.groups.append(StoreSnapshot.Group(
                        stage: try Stage.stored(stage, operation: operation),
                        state: try ParcelStatus.State(stored: state, operation: operation), stagesDone: stagesDone, count: count))
                }
                let deliveries = Self.query(PostgresSQL.deliveries) {
                    $0.append(start)
                    $0.append(end)
                    $0.append(recentSince.unixMilliseconds)
                }
                for try await (inPeriod, endToEnd, recent) in try await connection.query(deliveries, logger: logger)
                    .decode(([Int64], [Int64], [Int64]).self) {
                    snapshot.deliveries = inPeriod.map { Date(milliseconds: $0) }
                    snapshot.endToEnd = endToEnd.map(Double.init)
                    snapshot.recentDeliveries = recent.map { Date(milliseconds: $0) }
                }
                let selections: [(stage: String?, limit: Int64?)] = latestCompletions.map { latest in
                    Stage.allCases.map { ($0.rawValue, Int64(max(0, latest))) }
                } ?? [(nil, nil)]
                for selection in selections {
                    let latencies = Self.query(PostgresSQL.stageLatencies) {
                        $0.append(start)
                        $0.append(end)
                        $0.append(selection.stage)
                        $0.append(selection.limit)
                    }
                    for try await (stage, latency) in try await connection.query(latencies, logger: logger)
                        .decode((String?, Int64?).self) {
                        guard let stage = try Stage.stored(stage, operation: operation), let latency else { continue }
                        snapshot.stageLatencies[stage, default: []].append(Double(latency))
                    }
                }
                for try await (stage, oldest) in try await connection.query(Self.query(PostgresSQL.oldestWaiting), logger: logger)
                    .decode((String?, Int64).self) {
                    guard let stage = try Stage.stored(stage, operation: operation) else { continue }
                    snapshot.oldestWaiting[stage] = Date(milliseconds: oldest)
                }
                let attention = Self.query(PostgresSQL.attention) { $0.append(Int64(StoreSnapshot.attentionLimit)) }
                for try await (id, state, stage, reason, at) in try await connection.query(attention, logger: logger)
                    .decode((String, String, String?, String?, Int64).self) {
                    snapshot.attention.append(StoreSnapshot.Attention(
                        parcelID: id, state: try ParcelStatus.State(stored: state, operation: operation),
                        stage: try Stage.stored(stage, operation: operation), reason: reason, at: Date(milliseconds: at)))
                }
                return snapshot
            }
        }
    }

    /// The parcels and events tables' bytes on disk, with their indexes and TOAST.
    public func tableBytes() async throws(StatusStoreError) -> Int {
        try await perform("read the tables' size") {
            var bytes = 0
            for try await value in try await client.query(PostgresQuery(unsafeSQL: PostgresSQL.tableBytes), logger: logger)
                .decode(Int.self) { bytes = value }
            return bytes
        }
    }

    public func deliveredCount(in interval: DateInterval) async throws(StatusStoreError) -> Int {
        try await count(PostgresSQL.countDeliveries, in: interval, operation: "count deliveries")
    }

    public func returnedCount(in interval: DateInterval) async throws(StatusStoreError) -> Int {
        try await count(PostgresSQL.countReturned, in: interval, operation: "count returns")
    }

    /// A count over `interval` by `sql`, whose two parameters are the interval's ends (ms).
    private func count(_ sql: String, in interval: DateInterval, operation: String) async throws(StatusStoreError) -> Int {
        try await perform(operation) {
            let query = Self.query(sql) {
                $0.append(interval.start.unixMilliseconds)
                $0.append(interval.end.unixMilliseconds)
            }
            var count = 0
            for try await value in try await client.query(query, logger: logger).decode(Int.self) { count = value }
            return count
        }
    }

    public func holds(limit: Int) async throws(StatusStoreError) -> HoldListing {
        let operation = "list the held parcels"
        return try await perform(operation) {
            let query = Self.query(PostgresSQL.holds) { $0.append(Int64(min(max(0, limit), HoldListing.maxLimit))) }
            var holds: [HoldListing.Hold] = []
            for try await (id, stage, reason, since) in try await client.query(query, logger: logger)
                .decode((String, String?, String?, Int64).self) {
                holds.append(HoldListing.Hold(parcelID: id, stage: try Stage.stored(stage, operation: operation) ?? .inspection,
                                              reason: reason ?? "", since: Date(milliseconds: since)))
            }
            var total = 0
            for try await value in try await client.query(PostgresQuery(unsafeSQL: PostgresSQL.countHeld), logger: logger)
                .decode(Int.self) { total = value }
            return HoldListing(total: total, holds: holds)
        }
    }


    public func audit(idPrefix: String?) async throws(StatusStoreError) -> StoreAudit {
        let operation = "audit the history"
        return try await perform(operation) {
            try await transaction(readOnly: true) { connection in
                func prefixed(_ sql: String) -> PostgresQuery {
                    Self.query(sql) { $0.append(idPrefix) }
                }
                var audit = StoreAudit()
                for try await id in try await connection.query(prefixed(PostgresSQL.appliedTwice), logger: logger).decode(String.self) {
                    audit.appliedTwice.append(id)
                }
                for try await (kind, count) in try await connection.query(prefixed(PostgresSQL.countEvents), logger: logger)
                    .decode((String, Int).self) {
                    if kind == "started" { audit.tasksStarted = count } else { audit.retries = count }
                }
                for try await (state, stagesDone, count, lastFinal) in try await connection.query(
                    prefixed(PostgresSQL.auditParcels), logger: logger).decode((String, Int, Int, Int64?).self) {
                    audit.add(count, in: try ParcelStatus.State(stored: state, operation: operation), stagesDone: stagesDone)
                    if let lastFinal {
                        let final = Date(milliseconds: lastFinal)
                        audit.lastFinalAt = max(audit.lastFinalAt ?? final, final)
                    }
                }
                return audit
            }
        }
    }
}
