import Foundation
import ParcelCore
import ParcelLoadTest
import ParcelTestSupport
import Testing

/// The README's deployment, as one worker process: PARCELFLOW_HANDLERS has inspection check the
/// example rules and delivery hand parcels over to a carrier's service (``HandoverServer``); what
/// either holds is reviewed with `parcelctl holds` and `release`, and then delivered.
@Suite("Handlers deployed: rules at inspection, a carrier over HTTP at delivery, holds reviewed", .serialized)
struct HandlerDeploymentTests {
    @Test("a blocked item held by the rules and a parcel the carrier answers 423 for are listed, released and delivered",
          .timeLimit(.minutes(2)))
    func rulesCarrierAndReview() async throws {
        let server = try await HandoverServer.start()
        let fixture = try SubmitFixture.withMillisecondRetries()
        let cli = fixture.cli()
        #expect(try await cli.run(["setup"]).status == 0)
        let file = try fixture.write("december.csv", """
            \(InspectionRulesProcessTests.header)
            RULES-1,Amina Haddad,mother,Yusuf Haddad,"Camp Bastion, Block C",2,1,300,depot-north,chocolate;lighter
            CARRIER-1,Lena Okafor,daughter,Chidi Okafor,Station Halley VI,1,1,200,depot-south,
            CLEAN-1,Sam Reyes,friend,Ravi Iyer,Ward 3,3,0,400,depot-south,photo
            """)
        // The carrier cannot take CARRIER-1 yet: 423 with a reason; once released, it takes it.
        server.script(parcel: "CARRIER-1", [
            .reason(423, "recipient's station closed for the winter flight window"),
            HandoverServer.Answer(status: 200),
        ])
        let handlers = "inspection=rules:\(InspectionRulesProcessTests.exampleRules) delivery=http:\(server.url)"
        let worker = try WorkerProcess(fixture, name: "deployed", environment: ["PARCELFLOW_HANDLERS": handlers])
        #expect(try await eventually(timeout: .seconds(30)) { worker.isWorking }, "\(worker.output)")
        #expect(try await cli.run(["submit", "--file", file]).status == 0)

        let settled = try await eventually(timeout: .seconds(30)) {
            try await fixture.statesCount() == [.held: 2, .delivered: 1]
        }
        let states = try await fixture.statesCount()
        #expect(settled, "\(states) \(worker.output.suffix(2000))")
        let holds = try await cli.run(["holds"])
        let lines = holds.stdout.split(separator: "\n")
        #expect(lines.contains { $0.contains("RULES-1") && $0.contains("inspection") && $0.contains("'lighter' is blocked") },
                "\(holds.stdout)")
        #expect(lines.contains { $0.contains("CARRIER-1") && $0.contains("delivery") && $0.contains("closed for the winter") },
                "\(holds.stdout)")
        // The clean parcel was handed over once; the held one was asked once and not taken.
        #expect(server.seen("CLEAN-1:delivery").statuses == [200])
        #expect(server.seen("CARRIER-1:delivery").statuses == [423])
        #expect(server.seen("RULES-1:delivery").arrived == 0)

        // Released: the rules' hold goes on to delivery, the carrier's to delivery again; both are delivered.
        let released = try await cli.run(["release", "RULES-1", "CARRIER-1", "--note", "checked: allowed"])
        #expect(released.status == 0, "\(released.stdout)\(released.stderr)")
        let delivered = try await eventually(timeout: .seconds(30)) { try await fixture.statesCount() == [.delivered: 3] }
        let after = try await fixture.statesCount()
        #expect(delivered, "\(after) \(worker.output.suffix(2000))")
        #expect(server.seen("RULES-1:delivery").statuses == [200])
        #expect(server.seen("CARRIER-1:delivery").statuses == [423, 200])
        let history = try await cli.run(["status", "CARRIER-1"])
        #expect(history.stdout.contains("released") && history.stdout.contains("checked: allowed"), "\(history.stdout)")

        worker.signal(SIGTERM)
        #expect(await worker.exitStatus(timeout: .seconds(15)) == 0, "\(worker.output.suffix(2000))")
        #expect(worker.output.contains("delivery=http:\(server.url)"), "the handlers line: \(worker.output.prefix(3000))")
        await server.stop()
        try await fixture.tearDown()
    }
}
