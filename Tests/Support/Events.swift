import Synchronization

/// What happened, in order, from several tasks.
public final class Events: Sendable {
    private let entries = Mutex<[String]>([])

    public init() {}

    public func append(_ entry: String) { entries.withLock { $0.append(entry) } }

    public var list: [String] { entries.withLock { $0 } }
}
