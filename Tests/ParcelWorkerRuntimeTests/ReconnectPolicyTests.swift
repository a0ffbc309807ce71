import ParcelWorkerRuntime
import Testing

@Suite("When a worker connects again")
struct ReconnectPolicyTests {
    let policy = ReconnectPolicy(delay: .milliseconds(200) ... .seconds(5), brokerWait: .seconds(10))

    @Test("once connected, a lost connection is retried for ever, the pause doubling up to the longest")
    func lostIsRetriedWithBackoff() {
        var state = policy.start()
        policy.connected(&state)
        var pauses: [Duration] = []
        for _ in 0..<8 {
            state.elapsed += .seconds(3600)  // however long it has been: no giving up once connected
            guard case .retry(let pause, let lost) = policy.failed(.lost, &state) else {
                Issue.record("gave up on a lost connection")
                return
            }
            #expect(lost)
            pauses.append(pause)
        }
        #expect(pauses == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
                           .milliseconds(3200), .seconds(5), .seconds(5), .seconds(5)])
    }

    @Test("a broker going away after the first connection counts as lost, and the pause starts over after each session")
    func backoffStartsOverAfterASession() {
        var state = policy.start()
        policy.connected(&state)
        _ = policy.failed(.brokerAbsent, &state)
        _ = policy.failed(.brokerAbsent, &state)
        #expect(policy.failed(.brokerAbsent, &state) == .retry(after: .milliseconds(800), lost: true))
        policy.connected(&state)
        #expect(policy.failed(.lost, &state) == .retry(after: .milliseconds(200), lost: true))
    }

    @Test("before the first connection, an absent broker is waited for until brokerWait, the last pause cut to fit")
    func brokerWaitAtStartup() {
        var state = policy.start()
        state.elapsed = .zero
        #expect(policy.failed(.brokerAbsent, &state) == .retry(after: .milliseconds(200), lost: false))
        state.elapsed = .milliseconds(9_900)
        #expect(policy.failed(.brokerAbsent, &state) == .retry(after: .milliseconds(100), lost: false))
        state.elapsed = .seconds(10)
        #expect(policy.failed(.brokerAbsent, &state) == .fail)
    }

    @Test("no broker wait: an absent broker at startup fails at once")
    func noWait() {
        let impatient = ReconnectPolicy(delay: .milliseconds(200) ... .seconds(5), brokerWait: .zero)
        var state = impatient.start()
        #expect(impatient.failed(.brokerAbsent, &state) == .fail)
    }

    @Test("a fatal failure (refused login, conflicting queue) ends the worker, connected before or not")
    func fatalFails() {
        var fresh = policy.start()
        #expect(policy.failed(.fatal, &fresh) == .fail)
        var connected = policy.start()
        policy.connected(&connected)
        #expect(policy.failed(.fatal, &connected) == .fail)
    }

    @Test("before the first connection, losing a half-made session (a channel closed by the broker) is not waited out")
    func lostBeforeConnectedFails() {
        var state = policy.start()
        #expect(policy.failed(.lost, &state) == .fail)
    }
}
