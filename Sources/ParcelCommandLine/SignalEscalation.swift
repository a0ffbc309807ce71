import Dispatch
import Foundation
import Synchronization

/// SIGINT and SIGTERM for a command that stops gracefully: the first calls `first` (the command then
/// winds down: a worker drains, a load test stops its workers and starts any node it stopped); a
/// second exits at once with status 130, after `second`.
///
/// `@unchecked Sendable`: `sources` is set once in `init` and never changed; dispatch sources are
/// thread-safe to cancel, and their handlers run on one serial queue.
public final class SignalEscalation: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let count = Atomic<Int>(0)

    public init(first: @escaping @Sendable () -> Void, second: @escaping @Sendable () -> Void = {}) {
        let queue = DispatchQueue(label: "parcelflow.signals")
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            return DispatchSource.makeSignalSource(signal: number, queue: queue)
        }
        for source in sources {
            source.setEventHandler { [unowned self] in
                if count.add(1, ordering: .sequentiallyConsistent).newValue == 1 {
                    first()
                } else {
                    second()
                    Foundation.exit(130)
                }
            }
            source.resume()
        }
    }

    /// A first signal has come.
    public var happened: Bool { count.load(ordering: .sequentiallyConsistent) > 0 }

    /// Stops listening. (libdispatch leaves the signals blocked: for a command about to exit.)
    public func stop() {
        for source in sources { source.cancel() }
    }
}
