import AMQP
import Foundation
import ParcelCore
import ParcelWorkerRuntime

/// Erasure and a maximum age for dead letters (`parcelctl erase`, `parcelctl dlq purge --older-than`).
extension DeadLetterQueue {
    /// Replaces every letter of these parcels with a copy that keeps what is anonymous — parcel id,
    /// stage, attempts, kind, when — and drops the task (the names, the facility) and the reason
    /// (which may quote them). Each copy is confirmed by the broker before its original is removed,
    /// so a failure part-way leaves every letter whole or erased, never lost; running it again
    /// finishes the job. Letters erased before are left as they are.
    /// - Returns: how many letters were erased now.
    public func erase(parcelIDs: Set<String>, now: Date = Date()) async throws -> Int {
        let publisher = try await connection.openChannel()
        var erased = 0
        do {
            try await publisher.enableConfirms()
            try await browse(limit: .max) { entry, delivery in
                guard entry.erasedAt == nil, let parcelID = entry.parcelID, parcelIDs.contains(parcelID) else { return true }
                try await publisher.publish(erasedCopy(of: entry, parcelID: parcelID, now: now))
                try delivery.ack()
                erased += 1
                return true
            }
        } catch {
            await publisher.close()
            throw error
        }
        await publisher.close()
        return erased
    }

    /// What ``expire(olderThan:)`` did.
    public struct Expiry: Sendable, Hashable {
        /// Letters older than the cut-off, removed.
        public var removed = 0
        /// Letters with no time on them (published by hand), kept: their age is unknown.
        public var undated = 0
    }

    /// Removes the letters written before `cutoff` (by the message's timestamp, or the broker's time
    /// of death), one by one; younger letters go back to the queue untouched.
    public func expire(olderThan cutoff: Date) async throws -> Expiry {
        var expiry = Expiry()
        try await browse(limit: .max) { entry, delivery in
            guard let at = entry.at else {
                expiry.undated += 1
                return true
            }
            if at < cutoff {
                try delivery.ack()
                expiry.removed += 1
            }
            return true
        }
        return expiry
    }

    /// Whole seconds since 1970, or nil for a time before it or too far ahead for AMQP's timestamp.
    private static func seconds(_ date: Date) -> UInt64? {
        UInt64(exactly: date.timeIntervalSince1970.rounded(.down))
    }

    private func erasedCopy(of entry: DeadLetterEntry, parcelID: String, now: Date) -> AMQPOutboundMessage {
        var headers: AMQPTable = [
            DeadLetter.Header.attempts: .int64(Int64(entry.attempts)),
            DeadLetter.Header.kind: .string(entry.kind.rawValue),
            DeadLetter.Header.reason: .string(Erasure.erasedText),
            DeadLetter.Header.erasedAt: .timestamp(Self.seconds(now) ?? 0),
        ]
        if let stage = entry.stage { headers[DeadLetter.Header.stage] = .string(stage.rawValue) }
        var properties = AMQPProperties.persistentJSON(messageID: entry.taskID, correlationID: parcelID, headers: headers)
        // The letter's age is its original time, so that a maximum age still counts from its death.
        properties.timestamp = entry.at.flatMap(Self.seconds) ?? properties.timestamp
        return AMQPOutboundMessage(exchange: topology.deadExchange, routingKey: entry.routingKey, body: Data(),
                                   properties: properties, mandatory: true)
    }
}
