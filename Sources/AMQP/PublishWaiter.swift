/// The caller's side of one batch of publishes: resolved when every message in it is settled.
///
/// `@unchecked Sendable`: the publishing task creates it and hands it to the connection thread through
/// the driver's mutex-protected inbox (which orders the two); from then on only the connection thread
/// reads or writes `results` and `remaining`, and it resumes the continuation exactly once, when
/// `remaining` reaches zero.
final class PublishWaiter: @unchecked Sendable {
    private var results: [AMQPError?]
    private var remaining: Int
    private let continuation: CheckedContinuation<[AMQPError?], Never>

    init(count: Int, continuation: CheckedContinuation<[AMQPError?], Never>) {
        self.results = Array(repeating: nil, count: count)
        self.remaining = count
        self.continuation = continuation
        if count == 0 { continuation.resume(returning: []) }
    }

    /// Settles message `index` (nil = confirmed). Each index is settled once.
    func complete(_ index: Int, _ error: AMQPError?) {
        results[index] = error
        remaining -= 1
        if remaining == 0 { continuation.resume(returning: results) }
    }

    /// Settles the messages from `index` on with `error` (the rest of a batch that could not be written).
    func complete(from index: Int, _ error: AMQPError) {
        for i in index..<results.count { complete(i, error) }
    }

    /// Fails a batch that never reached the connection thread.
    func failAll(_ error: AMQPError) {
        complete(from: 0, error)
    }
}
