import Logging
import ParcelCore
import Synchronization
import Testing

@Suite("Log lines: what a message or a file said cannot steer the terminal the log goes to")
struct LogEscapingTests {
    /// Keeps what reaches it, as the stream handler would write it.
    final class Captured: Sendable {
        let events = Mutex<[(message: String, metadata: Logger.Metadata)]>([])
    }

    struct CapturingHandler: LogHandler {
        let captured: Captured
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            captured.events.withLock { $0.append((event.message.description, event.metadata ?? [:])) }
        }
    }

    @Test("the message and every metadata value, nested ones too, are escaped; plain text is left alone")
    func escapesMessageAndMetadata() throws {
        let captured = Captured()
        let logger = Logger(label: "test") { _ in EscapingLogHandler(CapturingHandler(captured: captured)) }
        logger.warning("dead-lettered: stage 'x\u{1B}[2J\rParcel P-1: delivered'", metadata: [
            "parcel_id": "P-1\u{202E}",
            "reasons": .array(["ok", "bell\u{07}"]),
            "more": .dictionary(["inner": "a\nb"]),
            "count": .stringConvertible(3),
        ])
        logger.info("plain text stays as it is", metadata: ["stage": "packaging"])
        let events = captured.events.withLock { $0 }
        try #require(events.count == 2)
        #expect(events[0].message == #"dead-lettered: stage 'x\e[2J\rParcel P-1: delivered'"#)
        #expect(events[0].metadata["parcel_id"] == .string(#"P-1\u{202E}"#))
        #expect(events[0].metadata["reasons"] == .array([.string("ok"), .string(#"bell\u{07}"#)]))
        #expect(events[0].metadata["more"] == .dictionary(["inner": .string(#"a\nb"#)]))
        #expect(events[0].metadata["count"] == .string("3"))
        #expect(events[1].message == "plain text stays as it is")
        #expect(events[1].metadata["stage"] == .string("packaging"))
    }
}
