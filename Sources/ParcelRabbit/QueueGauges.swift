import AMQP
import Logging
import ParcelCore
import ServiceLifecycle

/// Keeps the queue gauges current (`parcelflow_queue_messages`, `parcelflow_queue_consumers`): the
/// stage queues' and the dead-letter queue's depth and consumers, read every `interval` on a
/// connection of its own until graceful shutdown. A failed reading is skipped and the connection
/// made again next time: the gauges are for watching, and never hold the worker up.
public struct QueueGauges: Service, CustomStringConvertible {
    public var description: String { "queue gauges" }

    let amqp: AMQPConfiguration
    let topology: ParcelTopology
    let interval: Duration
    let logger: Logger

    public init(amqp: AMQPConfiguration, topology: ParcelTopology, interval: Duration, logger: Logger) {
        var amqp = amqp
        amqp.connectionName += " (queue gauges)"
        self.amqp = amqp
        self.topology = topology
        self.interval = interval
        self.logger = logger
    }

    public func run() async {
        var connection: AMQPConnection?
        var channel: AMQPChannel?
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do throws(AMQPError) {
                if connection?.isOpen != true {
                    await connection?.close()
                    channel = nil
                    connection = try await AMQPConnection.connect(amqp, logger: logger)
                }
                if channel == nil || channel?.closedReason != nil { channel = try await connection?.openChannel() }
                if let channel, case .queues(let stages, let dead) = await topology.readQueues(on: channel) {
                    for (stage, reading) in stages {
                        ParcelMetrics.recordQueue(topology.stageQueue(stage), messages: reading.messages, consumers: reading.consumers)
                    }
                    ParcelMetrics.recordQueue(topology.deadQueue, messages: dead.messages, consumers: dead.consumers)
                }
            } catch {
                logger.debug("could not read the queues", metadata: [LogKey.error: "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
        await connection?.close()
    }
}
