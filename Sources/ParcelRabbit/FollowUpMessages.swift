import AMQP
import Foundation
import ParcelCore
import ParcelWorkerRuntime

/// Publishes a worker's follow-ups with confirms, re-sending through a new connection what a lost
/// one left unconfirmed.
struct RabbitPublisher: FollowUpPublisher {
    let publisher: ReconnectingPublisher
    let topology: ParcelTopology

    func publish(_ followUps: [TaskDecision.Publish]) async -> [(any Error)?] {
        await publisher.publish(contentsOf: followUps.map(topology.message(for:)))
    }
}

extension ParcelTopology {
    /// The AMQP message a follow-up becomes: the next stage's task to the tasks exchange, a retry
    /// copy to its delay queue (expiring early by the jitter), a dead letter to the dead-letter
    /// exchange with headers saying stage, attempts, kind and reason. Every one persistent and
    /// mandatory: an unroutable follow-up is an error, not a silent loss.
    func message(for publish: TaskDecision.Publish) -> AMQPOutboundMessage {
        switch publish {
        case .next(let task):
            return stageTask(task)
        case .retry(let task, let delay, let expiration):
            var properties = AMQPProperties.persistentJSON(messageID: task.taskID, correlationID: task.parcelID)
            properties.expiration = String(max(1, expiration.wholeMilliseconds))
            return AMQPOutboundMessage(exchange: retryExchange, routingKey: retryQueue(task.stage, delay: delay),
                                       body: task.encoded(), properties: properties, mandatory: true)
        case .deadLetter(let letter):
            var headers: AMQPTable = [
                DeadLetter.Header.attempts: .int64(Int64(letter.attempts)),
                DeadLetter.Header.kind: .string(letter.kind.rawValue),
                DeadLetter.Header.reason: .string(letter.reason),
            ]
            if let stage = letter.stage { headers[DeadLetter.Header.stage] = .string(stage.rawValue) }
            return AMQPOutboundMessage(
                exchange: deadExchange, routingKey: letter.stage?.rawValue ?? "", body: letter.body,
                properties: .persistentJSON(
                    messageID: letter.parcelID.flatMap { id in letter.stage.map { TaskEnvelope.taskID(parcelID: id, stage: $0) } },
                    correlationID: letter.parcelID, headers: headers),
                mandatory: true)
        }
    }
}
