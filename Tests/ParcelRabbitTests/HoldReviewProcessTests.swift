import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ParcelCore
import ParcelRabbit
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// `parcelctl holds`, `release` and `return` as staff run them, against the real broker, the real
/// store and a built `parcel-worker` whose simulated inspection holds every parcel (`--hold-rate 1`).
@Suite("Reviewing held parcels with parcelctl", .serialized)
struct HoldReviewProcessTests {
    /// Who the history must name: the OS user running the tests (as parcelctl finds it).
    static var user: String {
        let name = getpwuid(geteuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } }
        return ReviewText.reviewer(accountName: name, environmentUser: ProcessInfo.processInfo.environment["USER"], userID: geteuid())
    }

    struct Snapshot: Equatable {
        var status: ParcelStatus?
        var lines: Int
    }

    /// Each parcel's status and how many history lines it has: what "nothing changed" compares.
    static func snapshot(_ fixture: SubmitFixture, _ ids: [String]) async throws -> [String: Snapshot] {
        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        var result: [String: Snapshot] = [:]
        for id in ids { result[id] = Snapshot(status: try await store.record(id)?.status, lines: try await store.history(id).count) }
        await store.close()
        return result
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    @Test("held parcels are listed, released (then delivered), returned; repeats are harmless; refusals change nothing",
          .timeLimit(.minutes(3)))
    func reviewHeldParcels() async throws {
        let fixture = try SubmitFixture.withMillisecondRetries()
        try await fixture.declare()
        let worker = try await ObservedWorker(fixture, name: "holder", arguments: ["--hold-rate", "1"])
        let cli = fixture.cli()
        let parcels = SubmitFixture.parcels(3)
        try await fixture.submitWithLibrary(parcels)
        #expect(try await eventually(timeout: .seconds(30)) { try await fixture.statesCount() == [.held: 3] })
        // One more held parcel whose reason would steer a terminal, held at packaging (any stage may hold),
        // and one that is only submitted: never held.
        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        let hostile = SubmitFixture.parcels(1, prefix: "E")[0]
        _ = try await store.submit([hostile, SubmitFixture.parcels(1, prefix: "S")[0]], at: Date())
        for transition: Transition in [.queued(.collection), .started(.collection, attempt: 1), .completed(.collection),
                                       .started(.packaging, attempt: 1), .held(.packaging, reason: "box\u{1B}[2J torn\u{202E}evil\nP-9  forged line")] {
            #expect(try await store.apply(transition, to: hostile.id, worker: "test") == .applied)
        }
        await store.close()

        // holds: the four, longest held first, reasons escaped.
        let holds = try await cli.run(["holds"])
        #expect(holds.status == 0, "\(holds.stderr)")
        #expect(holds.stdout.contains("4 parcels held for review:"), "\(holds.stdout)")
        for parcel in parcels {
            #expect(holds.stdout.split(separator: "\n").contains {
                $0.contains(parcel.id) && $0.contains("inspection") && $0.contains("simulated: inspection found an item")
            }, "\(parcel.id) is not listed: \(holds.stdout)")
        }
        #expect(holds.stdout.contains("E-0") && holds.stdout.contains("packaging") && holds.stdout.contains("box\\e[2J torn\\u{202E}evil\\nP-9  forged line"))
        #expect(!holds.stdout.contains("\u{1B}") && !holds.stdout.contains("\u{202E}"), "the reason reached the terminal raw")
        #expect(!holds.stdout.split(separator: "\n").contains { $0.hasPrefix("P-9") }, "the reason broke its line: \(holds.stdout)")
        let limited = try await cli.run(["holds", "--limit", "2"])
        #expect(limited.stdout.contains("4 parcels held for review (showing the 2 held longest):"))
        let listed = try Self.json(try await cli.run(["holds", "--json"]).stdout)
        #expect(listed["count"] as? Int == 4)
        let entries = try #require(listed["holds"] as? [[String: Any]])
        #expect(Set(entries.compactMap { $0["parcel_id"] as? String }) == Set(parcels.map(\.id) + ["E-0"]))
        let e0 = try #require(entries.first { $0["parcel_id"] as? String == "E-0" })
        #expect(e0["stage"] as? String == "packaging" && e0["reason"] as? String == "box\u{1B}[2J torn\u{202E}evil\nP-9  forged line")
        #expect(entries.allSatisfy { ($0["held_since"] as? String)?.hasSuffix("Z") == true })
        #expect(try await cli.run(["holds", "--limit", "0"]).status == 64)

        // Refused batches change nothing: an unknown id, a parcel never held, a bad note.
        let ids = parcels.map(\.id) + ["E-0", "S-0"]
        let before = try await Self.snapshot(fixture, ids)
        let mixed = try await cli.run(["release", "P-0", "NOPE", "--note", "ok"])
        #expect(mixed.status == 2, "\(mixed.stdout)\(mixed.stderr)")
        #expect(mixed.stderr.contains("Refused NOPE: no parcel has this id"))
        #expect(mixed.stderr.contains("Not done P-0: the batch was refused"))
        #expect(mixed.stderr.contains("Nothing was released: 1 id of 2 cannot be"))
        let notHeld = try await cli.run(["release", "P-1", "S-0"])
        #expect(notHeld.status == 2 && notHeld.stderr.contains("Refused S-0: not held: it is submitted"), "\(notHeld.stderr)")
        let notHeldReturn = try await cli.run(["return", "S-0", "--reason", "no"])
        #expect(notHeldReturn.status == 2 && notHeldReturn.stderr.contains("Refused S-0: not held"))
        let badNote = try await cli.run(["release", "P-0", "--note", "fine\u{1B}[2J"])
        #expect(badNote.status == 64 && badNote.stderr.contains("--note holds a control character (U+001B) at character 5"),
                "\(badNote.stderr)")
        #expect(!badNote.stderr.contains("\u{1B}"))
        #expect(try await cli.run(["return", "P-0"]).status == 64, "--reason is required")
        #expect(try await cli.run(["return", "P-0", "--reason", String(repeating: "x", count: 501)]).status == 64)
        #expect(try await Self.snapshot(fixture, ids) == before, "a refused command changed something")

        // Release: recorded with who and why, the next stage's task published; the worker delivers it.
        let released = try await cli.run(["release", "P-0", "--note", "checked by hand: a toy's battery, allowed"])
        #expect(released.status == 0, "\(released.stdout)\(released.stderr)")
        #expect(released.stdout.contains("Released P-0 (held at inspection): queued for delivery."))
        #expect(try await eventually(timeout: .seconds(30)) { try await Self.snapshot(fixture, ["P-0"])["P-0"]?.status == .delivered })
        let status = try await cli.run(["status", "P-0"])
        let releaseLine = try #require(status.stdout.split(separator: "\n").first { $0.contains("released") }, "\(status.stdout)")
        #expect(releaseLine.contains("inspection") && releaseLine.contains("checked by hand: a toy's battery, allowed")
            && releaseLine.contains("[\(Self.user)]"), "\(releaseLine)")
        let history = try #require(try Self.json(try await cli.run(["status", "P-0", "--json"]).stdout)["history"] as? [[String: Any]])
        #expect(Array(history.compactMap { $0["kind"] as? String }.suffix(4)) == ["held", "released", "started", "delivered"])
        let release = try #require(history.first { $0["kind"] as? String == "released" })
        #expect(release["worker"] as? String == Self.user && release["stage"] as? String == "inspection")
        #expect(release["detail"] as? String == "checked by hand: a toy's battery, allowed")

        // A repeat: already released, nothing recorded or sent again (it has moved on).
        let lines = try await Self.snapshot(fixture, ["P-0"])["P-0"]?.lines
        let again = try await cli.run(["release", "P-0"])
        #expect(again.status == 0 && again.stdout.contains("Already released P-0 (held at inspection): it is delivered now."),
                "\(again.stdout)\(again.stderr)")
        #expect(try await Self.snapshot(fixture, ["P-0"])["P-0"]?.lines == lines)

        // Return: final, with the reason, shown by status, summary and report; a repeat is harmless.
        let returned = try await cli.run(["return", "P-1", "--reason", "batteries may not be sent; the sender was told"])
        #expect(returned.status == 0 && returned.stdout.contains("Returned P-1 (held at inspection) to its sender."),
                "\(returned.stdout)\(returned.stderr)")
        let returnedStatus = try await cli.run(["status", "P-1"])
        #expect(returnedStatus.stdout.contains("Parcel P-1: returned to sender (held at inspection): batteries may not be sent"))
        #expect(returnedStatus.stdout.split(separator: "\n").contains {
            $0.contains("returned") && $0.contains("batteries may not be sent; the sender was told") && $0.contains("[\(Self.user)]")
        }, "\(returnedStatus.stdout)")
        let returnLines = try await Self.snapshot(fixture, ["P-1"])["P-1"]
        let returnAgain = try await cli.run(["return", "P-1", "--reason", "again"])
        #expect(returnAgain.status == 0 && returnAgain.stdout.contains("Already returned P-1 (held at inspection) to its sender."))
        #expect(try await Self.snapshot(fixture, ["P-1"])["P-1"] == returnLines)
        #expect(try await cli.run(["return", "P-0", "--reason", "too late"]).status == 2, "a delivered parcel cannot be returned")
        let summary = try Self.json(try await cli.run(["summary", "--json"]).stdout)
        #expect(summary["returned"] as? Int == 1 && summary["delivered"] as? Int == 1)
        let report = try await fixture.reportJSON()
        #expect(report["returned"] as? Int == 1 && report["held"] as? Int == 2)
        let stages = try #require(report["stages"] as? [[String: Any]])
        #expect(stages[Stage.inspection.index]["returned"] as? Int == 1)
        let text = try await cli.run(["report"])
        #expect(text.stdout.contains("1 returned"), "\(text.stdout)")

        // A release recorded but never published (a crash between the two): running it again sends the task.
        let direct = try await SQLiteStatusStore.open(path: fixture.storePath)
        #expect(try await direct.apply(.released(.inspection, note: "crashed before publishing"), to: "P-2", worker: Self.user) == .applied)
        await direct.close()
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await Self.snapshot(fixture, ["P-2"])["P-2"]?.status == .queued(.delivery), "nothing was published yet")
        let healed = try await cli.run(["release", "P-2"])
        #expect(healed.status == 0 && healed.stdout.contains("Already released P-2 (held at inspection): still queued for delivery; "
            + "its task was published again"), "\(healed.stdout)\(healed.stderr)")
        #expect(try await eventually(timeout: .seconds(30)) { try await Self.snapshot(fixture, ["P-2"])["P-2"]?.status == .delivered })

        // Held at packaging, released: its inspection task is published, and the worker's inspection holds it again.
        let hostileRelease = try await cli.run(["release", "E-0", "--note", "tape fixed"])
        #expect(hostileRelease.status == 0 && hostileRelease.stdout.contains("Released E-0 (held at packaging): queued for inspection."))
        #expect(try await eventually(timeout: .seconds(30)) {
            try await Self.snapshot(fixture, ["E-0"])["E-0"]?.status?.state == .held
        })
        #expect(try await Self.snapshot(fixture, ["E-0"])["E-0"]?.status?.stage == .inspection)
        let eStatus = try await cli.run(["status", "E-0"])
        #expect(eStatus.stdout.contains("box\\e[2J torn\\u{202E}evil\\nP-9  forged line") && !eStatus.stdout.contains("\u{1B}"), "\(eStatus.stdout)")

        // The gauges: one held now (E-0; P-0 and P-2 delivered, P-1 returned), one returned this period.
        var exposition = ""
        let gauges = try await eventually(timeout: .seconds(20)) {
            exposition = try await worker.metrics()
            return ObservedWorker.sum(exposition, ParcelMetrics.held) == 1 && ObservedWorker.sum(exposition, ParcelMetrics.periodReturned) == 1
        }
        #expect(gauges, "\(exposition.split(separator: "\n").filter { $0.contains("held") || $0.contains("returned") })")

        // The dashboard, rendered by Chromium, shows the returned parcel.
        let dashboard = try await DashboardProcess(fixture, ["--target", "2000"])
        let page = try await runChild(Tools.chromium, [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--user-data-dir=\(fixture.directory.appendingPathComponent("chromium").path)",
            "--virtual-time-budget=5000", "--dump-dom", dashboard.address,
        ])
        await dashboard.process.stop()
        try #require(page.output.contains("data-state=\"ready\""), "the page did not render: \(page.output.prefix(800))")
        let fields = DashboardFields(page.output)
        #expect(DashboardFields.same(fields.values["returned"] ?? NSNull(), 1 as NSNumber), "\(fields.values["returned"] ?? "none")")
        #expect(DashboardFields.same(fields.values["stages.2.returned"] ?? NSNull(), 1 as NSNumber))

        await worker.process.stop()
        try await fixture.tearDown()
    }
}
