import Synchronization

/// The first error any of several tasks reports.
final class FirstError: Sendable {
    private let slot = Mutex<(any Error)?>(nil)

    func record(_ error: any Error) { slot.withLock { if $0 == nil { $0 = error } } }

    var error: (any Error)? { slot.withLock { $0 } }
}
