import AMQP
import Foundation
import ParcelCore
import ParcelRabbit

/// Builds ``DeliveryReport``s from the store and the broker, for `parcelctl report` and the
/// dashboard. Keeps one broker connection and opens it again when it is lost; if the broker cannot
/// be reached, the report says so and still gives the store's figures.
public actor ReportSource {
    let store: any StatusStore
    let amqp: AMQPConfiguration
    let topology: ParcelTopology
    let target: TargetSetting
    private var connection: AMQPConnection?

    public init(store: any StatusStore, amqp: AMQPConfiguration, topology: ParcelTopology, target: TargetSetting) {
        self.store = store
        self.amqp = amqp
        self.topology = topology
        self.target = target
    }

    public func report(now: Date = Date()) async throws -> DeliveryReport {
        let period = target.period(at: now)
        let snapshot = try await store.snapshot(period: period.interval,
                                                recentSince: now.addingTimeInterval(-DeliveryReport.recentWindow),
                                                latestCompletions: StoreSnapshot.latencySample)
        return DeliveryReport(snapshot: snapshot, broker: await readBroker(), period: period,
                              target: target.target, now: now)
    }

    private func readBroker() async -> DeliveryReport.BrokerReading {
        do throws(AMQPError) {
            if connection?.isOpen != true {
                connection = try await AMQPConnection.connect(amqp)
            }
            let channel = try await connection!.openChannel()
            let reading = await topology.readQueues(on: channel)
            await channel.close()
            return reading
        } catch {
            connection = nil
            return .unreachable("\(error)")
        }
    }

    public func close() async {
        await connection?.close()
        connection = nil
    }
}
