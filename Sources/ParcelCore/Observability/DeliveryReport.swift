import Foundation

/// The figures `parcelctl report` prints and the dashboard shows — computed here once, from one
/// store snapshot and one reading of the broker's queues, so the two can never disagree.
public struct DeliveryReport: Sendable {
    /// Messages ready in a queue and the consumers on it, as the broker said.
    public struct QueueReading: Sendable, Hashable {
        public var messages: Int
        public var consumers: Int

        public init(messages: Int, consumers: Int) {
            self.messages = messages
            self.consumers = consumers
        }
    }

    /// What the broker said about the stage queues and the dead-letter queue, or why it could not.
    public enum BrokerReading: Sendable {
        case queues(stages: [Stage: QueueReading], dead: QueueReading)
        case unreachable(String)
    }

    /// Nearest-rank percentiles of a set of durations.
    public struct Percentiles: Sendable, Hashable {
        public var count: Int
        public var p50: Double?
        public var p95: Double?
        public var p99: Double?

        public init(_ values: [Double]) {
            let sorted = values.sorted()
            count = sorted.count
            func rank(_ p: Double) -> Double? {
                sorted.isEmpty ? nil : sorted[max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
            }
            p50 = rank(0.50)
            p95 = rank(0.95)
            p99 = rank(0.99)
        }
    }

    public struct StageRow: Sendable {
        public var stage: Stage
        /// Parcels that reached the stage, and those past it.
        public var entered = 0
        public var completed = 0
        /// Parcels at the stage now, by state.
        public var states: [ParcelStatus.State: Int] = [:]
        public var queue: QueueReading?
        /// Seconds the longest-waiting parcel at the stage has waited.
        public var oldestWaiting: TimeInterval?
        /// Queued → done at this stage, in milliseconds.
        public var latency: Percentiles
    }

    public struct Bucket: Sendable, Hashable {
        public var start: Date
        public var delivered: Int
    }

    public let generatedAt: Date
    public let period: ReportPeriod
    public let forecast: TargetForecast?
    /// Parcels in each state, all stages together.
    public let states: [ParcelStatus.State: Int]
    public let stages: [StageRow]
    /// Submitted → delivered, milliseconds, for parcels delivered in the period.
    public let endToEnd: Percentiles
    public let deadQueue: QueueReading?
    public let brokerError: String?
    /// Deliveries per day of the period.
    public let daily: [Bucket]
    /// Deliveries per minute over the last hour.
    public let recent: [Bucket]
    public let attention: [StoreSnapshot.Attention]

    public var parcels: Int { states.values.reduce(0, +) }
    public var deliveredInPeriod: Int { daily.reduce(0) { $0 + $1.delivered } }

    /// How far back ``recent`` looks; ask the store for deliveries since `now - recentWindow`.
    public static let recentWindow: TimeInterval = 3_600

    public init(snapshot: StoreSnapshot, broker: BrokerReading, period: ReportPeriod, target: Int?, now: Date) {
        generatedAt = now
        self.period = period
        var states: [ParcelStatus.State: Int] = [:]
        var rows = Stage.allCases.map { stage in
            StageRow(stage: stage, latency: Percentiles(snapshot.stageLatencies[stage] ?? []))
        }
        for group in snapshot.groups {
            states[group.state, default: 0] += group.count
            // Every stage before the current one was entered and completed; the current one entered.
            let current = group.stage?.index ?? -1
            for index in 0..<Stage.allCases.count {
                if index <= current { rows[index].entered += group.count }
                if index < group.stagesDone { rows[index].completed += group.count }
            }
            if let stage = group.stage, group.state != .delivered {
                rows[stage.index].states[group.state, default: 0] += group.count
            }
        }
        for (stage, since) in snapshot.oldestWaiting {
            rows[stage.index].oldestWaiting = max(0, now.timeIntervalSince(since))
        }
        switch broker {
        case .queues(let stageQueues, let dead):
            for index in rows.indices { rows[index].queue = stageQueues[rows[index].stage] }
            deadQueue = dead
            brokerError = nil
        case .unreachable(let error):
            deadQueue = nil
            brokerError = error
        }
        self.states = states
        stages = rows
        endToEnd = Percentiles(snapshot.endToEnd)
        daily = Self.buckets(snapshot.deliveries, from: period.start, to: period.end, width: 86_400)
        let hourAgo = Date(timeIntervalSince1970: ((now.timeIntervalSince1970 - Self.recentWindow) / 60).rounded(.down) * 60 + 60)
        recent = Self.buckets(snapshot.recentDeliveries, from: hourAgo, to: hourAgo.addingTimeInterval(Self.recentWindow), width: 60)
        attention = snapshot.attention
        forecast = target.map { TargetForecast(target: $0, delivered: snapshot.deliveries.count, period: period, now: now) }
    }

    static func buckets(_ times: [Date], from start: Date, to end: Date, width: TimeInterval) -> [Bucket] {
        let count = max(0, Int((end.timeIntervalSince(start) / width).rounded(.up)))
        var buckets = (0..<count).map { Bucket(start: start.addingTimeInterval(Double($0) * width), delivered: 0) }
        for time in times where time >= start && time < end {
            buckets[min(count - 1, Int(time.timeIntervalSince(start) / width))].delivered += 1
        }
        return buckets
    }
}

extension DeliveryReport {
    /// The report as one JSON object (`parcelctl report --json`, the dashboard's `api/report`); its
    /// fields are described in README.md, "Report".
    public var json: JSONValue {
        func number(_ value: Double?, places: Double = 1000) -> JSONValue {
            guard let value, value.isFinite else { return .null }
            return .number((value * places).rounded() / places)
        }
        func percentiles(_ p: Percentiles) -> JSONValue {
            .object(["count": .int(p.count), "p50": number(p.p50, places: 10), "p95": number(p.p95, places: 10),
                     "p99": number(p.p99, places: 10)])
        }
        func buckets(_ list: [Bucket], width: Int) -> JSONValue {
            .object(["bucket_seconds": .int(width), "buckets": .array(list.map {
                .object(["start": .string(Self.time($0.start)), "delivered": .int($0.delivered)])
            })])
        }
        func count(_ state: ParcelStatus.State) -> JSONValue { .int(states[state] ?? 0) }

        var object: [String: JSONValue] = [
            "generated_at": .string(Self.time(generatedAt)),
            "period": .object([
                "name": .string(period.name), "start": .string(Self.time(period.start)), "end": .string(Self.time(period.end)),
                "elapsed_days": number(period.elapsedDays(at: generatedAt)),
                "remaining_days": number(period.remainingDays(at: generatedAt)),
                "state": .string(period.phase(at: generatedAt).rawValue),
            ]),
            "parcels": .int(parcels),
            "delivered": count(.delivered), "held": count(.held), "dead_lettered": count(.deadLettered),
            "returned": count(.returned),
            "in_flight": count(.processing), "retrying": count(.retrying), "queued": count(.queued),
            "submitted": count(.submitted),
            "stages": .array(stages.map { row in
                .object([
                    "stage": .string(row.stage.rawValue), "entered": .int(row.entered), "completed": .int(row.completed),
                    "queued": .int(row.states[.queued] ?? 0), "processing": .int(row.states[.processing] ?? 0),
                    "retrying": .int(row.states[.retrying] ?? 0), "held": .int(row.states[.held] ?? 0),
                    "dead_lettered": .int(row.states[.deadLettered] ?? 0), "returned": .int(row.states[.returned] ?? 0),
                    "queue_messages": .int(row.queue?.messages), "queue_consumers": .int(row.queue?.consumers),
                    "oldest_waiting_seconds": number(row.oldestWaiting),
                    "latency_ms": percentiles(row.latency),
                ])
            }),
            "end_to_end_ms": percentiles(endToEnd),
            "dead_letter_queue": deadQueue.map { .object(["messages": .int($0.messages), "consumers": .int($0.consumers)]) } ?? .null,
            "broker": .object(["reachable": .bool(brokerError == nil), "error": brokerError.map { .string($0) } ?? .null]),
            "throughput": buckets(daily, width: 86_400),
            "recent": buckets(recent, width: 60),
            "attention": .array(attention.map { item in
                .object(["parcel_id": .string(item.parcelID), "state": .string(item.state.rawValue),
                         "stage": item.stage.map { .string($0.rawValue) } ?? .null,
                         "reason": item.reason.map { .string($0) } ?? .null, "at": .string(Self.time(item.at))])
            }),
        ]
        object["target"] = forecast.map { f in
            .object([
                "parcels": .int(f.target), "delivered": .int(f.delivered), "remaining": .int(f.remaining),
                "progress": number(f.progress, places: 10_000), "rate_per_day": number(f.ratePerDay),
                "needed_per_day": number(f.neededPerDay), "projected": number(f.projected),
                "forecast": .string(f.verdict.rawValue), "behind_parcels": .int(f.behindParcels),
                "behind_days": number(f.behindDays), "summary": .string(f.summary),
            ])
        } ?? .null
        return .object(object)
    }

    /// `2026-12-01T00:00:00Z`: whole seconds, which is all a report needs.
    public static func time(_ date: Date) -> String { String(Timestamp.format(date).prefix(19)) + "Z" }
}
