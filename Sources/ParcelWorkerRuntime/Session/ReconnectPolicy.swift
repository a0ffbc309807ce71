/// When a worker connects again after a failure, and when it gives up. Pure: the worker feeds it what
/// happened and does what it says; tested without a broker (ReconnectPolicyTests).
///
/// - Before the first connection, a broker that is absent (``ConnectionFault/brokerAbsent``) is waited
///   for until `brokerWait` has passed since the start; anything else fails at once: a
///   misconfiguration should not loop silently.
/// - Once connected, a lost connection (``ConnectionFault/lost`` or `.brokerAbsent`) is reconnected
///   for as long as it takes; a fatal one ends the worker.
/// - Pauses double from `delay.lowerBound` up to `delay.upperBound`, and start over after each
///   connected period.
public struct ReconnectPolicy: Sendable, Hashable {
    public let delay: ClosedRange<Duration>
    public let brokerWait: Duration

    public init(delay: ClosedRange<Duration>, brokerWait: Duration) {
        self.delay = delay
        self.brokerWait = brokerWait
    }

    /// Where a worker stands between attempts.
    public struct State: Sendable, Hashable {
        public var connectedOnce = false
        /// The pause before the next attempt.
        public var nextDelay: Duration
        /// Time since the worker started.
        public var elapsed: Duration = .zero

        public init(nextDelay: Duration) {
            self.nextDelay = nextDelay
        }
    }

    /// What to do after a failure.
    public enum Step: Sendable, Hashable {
        /// Reconnect after the pause. `lost`: the worker had a connection (it counts a reconnect);
        /// false: the broker is not there yet.
        case retry(after: Duration, lost: Bool)
        /// Give up: the error ends the worker.
        case fail
    }

    public func start() -> State { State(nextDelay: delay.lowerBound) }

    /// A session was established: the next failure starts from the shortest pause.
    public func connected(_ state: inout State) {
        state.connectedOnce = true
        state.nextDelay = delay.lowerBound
    }

    /// A failure of kind `fault`, at `state.elapsed` since the start.
    public func failed(_ fault: ConnectionFault, _ state: inout State) -> Step {
        let step: Step
        switch (fault, state.connectedOnce) {
        case (.fatal, _):
            return .fail
        case (.lost, true), (.brokerAbsent, true):
            step = .retry(after: state.nextDelay, lost: true)
        case (.brokerAbsent, false):
            let left = brokerWait - state.elapsed
            guard left > .zero else { return .fail }
            step = .retry(after: min(state.nextDelay, left), lost: false)
        case (.lost, false):
            return .fail
        }
        state.nextDelay = min(state.nextDelay * 2, delay.upperBound)
        return step
    }
}
