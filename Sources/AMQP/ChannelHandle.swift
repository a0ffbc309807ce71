import Synchronization

/// What deliveries and channel values hold to reach their channel from any thread.
final class ChannelHandle: Sendable {
    let id: UInt16
    let driver: ConnectionDriver
    private let closedError = Mutex<AMQPError?>(nil)

    init(id: UInt16, driver: ConnectionDriver) {
        self.id = id
        self.driver = driver
    }

    /// Why the channel is closed, or nil while it is open.
    var closedReason: AMQPError? { closedError.withLock { $0 } }

    /// Called by the connection thread when the channel ends.
    func markClosed(_ error: AMQPError) {
        closedError.withLock { if $0 == nil { $0 = error } }
    }

    func settle(_ tag: UInt64, _ settlement: AMQPSettlement) throws(AMQPError) {
        if let error = closedReason { throw error }
        driver.submit(.settle(channel: id, tag: tag, settlement: settlement))
    }
}
