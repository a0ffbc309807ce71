import ParcelCore
import Testing

@Suite("Duration in whole milliseconds")
struct DurationTests {
    @Test("the fraction of a millisecond is dropped, toward zero", arguments: [
        (Duration.zero, Int64(0)),
        (.microseconds(999), 0),
        (.microseconds(2500), 2),
        (.milliseconds(250), 250),
        (.seconds(1) + .microseconds(999), 1000),
        (.milliseconds(1500), 1500),
        (.seconds(600), 600_000),
        (.seconds(86_400 * 365), 31_536_000_000),
        (.microseconds(-2500), -2),
    ])
    func wholeMilliseconds(duration: Duration, milliseconds: Int64) {
        #expect(duration.wholeMilliseconds == milliseconds)
    }
}
