import ArgumentParser
import AMQP
import ParcelCommandLine
import Testing

@Suite("Broker and topology options")
struct BrokerOptionsTests {
    @Test("--connect-timeout outside (0, 3600] or not a number is refused, not turned into a duration",
          arguments: ["nan", "inf", "-1", "0", "3601", "1e300"])
    func connectTimeoutRefused(value: String) throws {
        let options = try BrokerOptions.parse(["--connect-timeout=\(value)"])
        #expect(throws: ValidationError.self) { try options.configuration(name: "test") }
    }

    @Test("a sensible --connect-timeout is taken")
    func connectTimeoutTaken() throws {
        let options = try BrokerOptions.parse(["--connect-timeout", "2.5"])
        #expect(try options.configuration(name: "test").connectTimeout == .milliseconds(2500))
    }

    @Test("--retry-delays too long to hold is refused with the bound, not a crash",
          arguments: ["3000000000000000h", "169h", "9223372036854775807ms"])
    func retryDelaysBounded(value: String) throws {
        let options = try TopologyOptions.parse(["--retry-delays", value])
        #expect(throws: ValidationError.self) { try options.topology() }
    }
}
