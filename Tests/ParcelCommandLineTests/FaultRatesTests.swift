import ArgumentParser
import ParcelCommandLine
import Testing

@Suite("Simulated fault rates (--transient-rate, --permanent-rate, --hold-rate)")
struct FaultRatesTests {
    @Test("shares from 0 to 1 pass", arguments: [(0.0, 0.0, 0.0), (1, 1, 1), (0.05, 0.01, 0.5)])
    func accepted(transient: Double, permanent: Double, hold: Double) throws {
        try validateFaultRates(transient: transient, permanent: permanent, hold: hold)
    }

    @Test("anything else names the first flag out of range", arguments: [
        (-0.1, 0.0, 0.0, "--transient-rate"),
        (1.5, 2.0, 0.0, "--transient-rate"),
        (0.0, 1.01, 0.0, "--permanent-rate"),
        (0.0, 0.0, -1.0, "--hold-rate"),
        (0.0, 0.0, .nan, "--hold-rate"),
        (0.0, .infinity, 0.0, "--permanent-rate"),
    ])
    func refused(transient: Double, permanent: Double, hold: Double, flag: String) {
        let error = #expect(throws: ValidationError.self) {
            try validateFaultRates(transient: transient, permanent: permanent, hold: hold)
        }
        #expect(error?.message == "\(flag) must be from 0 to 1")
    }
}
