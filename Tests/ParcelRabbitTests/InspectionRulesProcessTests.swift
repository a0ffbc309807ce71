import Foundation
import ParcelCore
import ParcelTestSupport
import Testing

/// `parcel-worker --handler inspection=rules:FILE` as ops run it, with parcels submitted by
/// `parcelctl submit` and read back by `parcelctl status`, against the real broker and store.
@Suite("Inspection rules in a worker process", .serialized)
struct InspectionRulesProcessTests {
    /// The rules file ops start from.
    static let exampleRules = repositoryRoot.appendingPathComponent("deploy/handlers/inspection-rules.json").path

    static let header = (ParcelParsing.csvColumns + ["items"]).joined(separator: ",")

    @Test("a blocked item and a parcel too heavy for its facility end held with the rule in the reason; a clean parcel is delivered",
          .timeLimit(.minutes(2)))
    func holdsAndDelivers() async throws {
        let fixture = try SubmitFixture.withMillisecondRetries()
        let cli = fixture.cli()
        #expect(try await cli.run(["setup"]).status == 0)
        let file = try fixture.write("december.csv", """
            \(Self.header)
            BLOCKED-1,Amina Haddad,mother,Yusuf Haddad,"Camp Bastion, Block C",2,1,300,depot-north,chocolate; Batteries
            HEAVY-1,Lena Okafor,daughter,Chidi Okafor,Frigate Resolute,3,0,2500,depot-south,
            CLEAN-1,Sam Reyes,friend,Ravi Iyer,frigate resolute,3,0,400,depot-south,photo;socks\u{202E}xof
            """)
        let submitted = try await cli.run(["submit", "--file", file])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let worker = try WorkerProcess(fixture, arguments: ["--handler", "inspection=rules:\(Self.exampleRules)"], name: "rules")
        try await fixture.waitUntilFinal(3)

        let blocked = try await cli.run(["status", "BLOCKED-1"])
        #expect(blocked.stdout.contains("Parcel BLOCKED-1: held"), "\(blocked.stdout)")
        #expect(blocked.stdout.contains("rule defaults.blocked_items[0]: the declared item 'Batteries' is blocked"), "\(blocked.stdout)")
        #expect(blocked.stdout.contains("declared: chocolate, Batteries"), "\(blocked.stdout)")
        let heavy = try await cli.run(["status", "HEAVY-1", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(heavy.stdout.utf8)) as? [String: Any])
        let status = try #require(object["status"] as? [String: Any])
        #expect(status["state"] as? String == "held")
        #expect(status["reason"] as? String
            == #"rule facilities["Frigate Resolute"].max_weight_grams: the parcel weighs 2500 g, over the limit of 2000 g"#)
        let clean = try await cli.run(["status", "CLEAN-1"])
        #expect(clean.stdout.contains("Parcel CLEAN-1: delivered"), "\(clean.stdout)")
        // A declared item reaches the terminal escaped (a right-to-left override shown, not obeyed).
        #expect(clean.stdout.contains(#"declared: photo, socks\u{202E}xof"#), "\(clean.stdout)")

        worker.signal(SIGTERM)
        #expect(await worker.exitStatus(timeout: .seconds(15)) == 0, "\(worker.output.suffix(2000))")
        #expect(worker.output.contains("inspection=rules:\(Self.exampleRules)"))
        try await fixture.tearDown()
    }

    @Test("a broken rules file: the worker exits non-zero naming the file, line and field, before consuming anything",
          .timeLimit(.minutes(1)))
    func brokenRulesFile() async throws {
        let fixture = try SubmitFixture()
        let cli = fixture.cli()
        #expect(try await cli.run(["setup"]).status == 0)
        let file = try fixture.write("parcels.csv", "\(Self.header)\nP-1,Amina,mother,Yusuf,Frigate Resolute,1,0,100,depot-north,\n")
        #expect(try await cli.run(["submit", "--file", file]).status == 0)
        let rules = try fixture.write("inspection-rules.json", """
            {
              "schema_version": 1,
              "facilities": {
                "Frigate Resolute": { "max_weight_grams": 0, "accepts_drawings": false }
              }
            }
            """)
        let worker = try WorkerProcess(fixture, arguments: ["--handler", "inspection=rules:\(rules)"], name: "broken")
        let status = await worker.exitStatus(timeout: .seconds(20))
        #expect(status != nil && status != 0, "\(worker.output)")
        #expect(worker.output.contains(
            #"\#(rules):4: facilities["Frigate Resolute"].max_weight_grams: must be a whole number from 1 to 30000 (got 0)"#),
                "\(worker.output)")
        #expect(!worker.output.contains("Fatal error"))
        // Nothing consumed: the parcel's task still waits, and the store never heard of a worker.
        #expect(try await fixture.collectionDepth() == 1)
        #expect(try await fixture.statesCount() == [.queued: 1])
        #expect(worker.report == nil, "the worker never started working")

        // parcelctl rules check says the same before a deployment, and passes the example.
        let check = try await cli.run(["rules", "check", Self.exampleRules, rules])
        #expect(check.status == 1)
        #expect(check.stdout.contains("\(Self.exampleRules): ok (3 facilities, 1 origin, 12 blocked items)"), "\(check.stdout)")
        #expect(check.stderr.contains(
            #"\#(rules):4: facilities["Frigate Resolute"].max_weight_grams: must be a whole number from 1 to 30000 (got 0)"#),
                "\(check.stderr)")
        #expect(check.stderr.contains("1 of 2 rules file(s) have problems"))

        // Rules anywhere but inspection are refused the same way, before anything starts.
        let everywhere = try WorkerProcess(fixture, arguments: ["--handler", "rules:\(Self.exampleRules)"], name: "everywhere")
        #expect(await everywhere.exitStatus(timeout: .seconds(20)) ?? 0 != 0)
        #expect(everywhere.output.contains("the rules check inspection only"), "\(everywhere.output)")
        #expect(try await fixture.collectionDepth() == 1)
        await worker.stop()
        await everywhere.stop()
        try await fixture.tearDown()
    }
}
