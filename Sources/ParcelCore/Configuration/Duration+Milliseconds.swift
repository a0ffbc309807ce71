extension Duration {
    /// The duration in whole milliseconds, the fraction dropped (toward zero): what millisecond
    /// settings want (SQLite's busy timeout, a message's `expiration`, a delay's name).
    ///
    /// The AMQP module has its own (`Duration.milliseconds`, internal) because it imports nothing of
    /// ParcelFlow; everything above it uses this one.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
