import AMQP
import Foundation
import ParcelTestSupport
import Testing

/// TLS against the test broker's `amqps` listener, with the certificates deploy/local generated.
@Suite("TLS")
struct TLSTests {
    let url: String
    let certificates: String

    init() throws {
        url = try #require(TestBroker.environment["PARCELFLOW_AMQPS_URL"],
                           "deploy/local/test.sh exports PARCELFLOW_AMQPS_URL for its broker's TLS listener")
        certificates = try #require(TestBroker.environment["PARCELFLOW_TLS_DIR"])
    }

    func configuration(_ url: String, _ tls: AMQPTLSOptions) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: url, connectionName: "tls test")
        configuration.tls = tls
        configuration.connectTimeout = .seconds(3)
        return configuration
    }

    @Test("amqps with the right CA verifies the broker and carries messages")
    func verifiedRoundTrip() async throws {
        let tls = AMQPTLSOptions(caCertificatePath: "\(certificates)/ca.pem", certificatePath: "\(certificates)/client.pem",
                                 keyPath: "\(certificates)/client.key")
        let connection = try await AMQPConnection.connect(try configuration(url, tls))
        #expect(connection.endpoint.tls != nil)
        let channel = try await connection.openChannel()
        let queue = TestBroker.unique("tls")
        try await channel.declareQueue(queue, options: AMQPQueueOptions(durable: false, exclusive: true))
        try await channel.enableConfirms()
        try await channel.publish(.text("over TLS", to: queue))
        let delivery = try #require(try await channel.get(queue: queue, autoAck: true))
        #expect(String(decoding: delivery.body, as: UTF8.self) == "over TLS")
        await connection.close()
    }

    @Test("the CA and verification can come from the URL's query")
    func optionsFromURL() async throws {
        let connection = try await AMQPConnection.connect(
            try configuration("\(url)?cacertfile=\(certificates)/ca.pem&verify=verify_peer", AMQPTLSOptions()))
        await connection.close()
    }

    @Test("a broker certificate from another CA is refused")
    func wrongCA() async throws {
        let error = await #expect(throws: AMQPError.self) {
            try await AMQPConnection.connect(try configuration(url, AMQPTLSOptions(caCertificatePath: "\(certificates)/rogue-ca.pem")))
        }
        #expect(error?.code == .tlsFailure)
    }

    @Test("a host name the certificate does not name is refused unless hostname checks are off")
    func hostnameVerification() async throws {
        // The broker's certificate names localhost and 127.0.0.1, not 127.0.0.2 (also loopback).
        var endpoint = try AMQPEndpoint(url: url)
        endpoint.host = "127.0.0.2"
        var config = AMQPConfiguration(endpoints: [endpoint], connectionName: "tls hostname")
        config.tls = AMQPTLSOptions(caCertificatePath: "\(certificates)/ca.pem")
        config.connectTimeout = .seconds(3)
        let error = await #expect(throws: AMQPError.self) { try await AMQPConnection.connect(config) }
        #expect(error?.code == .tlsFailure)

        config.tls.verifyHostname = false
        let connection = try await AMQPConnection.connect(config)
        await connection.close()
    }

    @Test("a missing certificate file is a clear error")
    func missingFile() async throws {
        let error = await #expect(throws: AMQPError.self) {
            try await AMQPConnection.connect(try configuration(url, AMQPTLSOptions(caCertificatePath: "/nonexistent/ca.pem")))
        }
        #expect(error?.code == .tlsFailure)
        #expect(error?.message.contains("/nonexistent/ca.pem") == true)
    }
}
