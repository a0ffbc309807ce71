import Foundation
import ParcelRabbit
import ParcelTestSupport
import Testing

/// `--log-format json` and `PARCELFLOW_LOG_FORMAT`, end to end: what the executables write on
/// standard error is one JSON object a line (``JSONLogHandlerTests`` checks the lines themselves).
@Suite("Log format: JSON lines on standard error for log shippers", .serialized)
struct LogFormatTests {
    /// Each line of `text` as a JSON object; records an issue for any line that is not one.
    static func objects(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { line in
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)", sourceLocation: sourceLocation)
            return object
        }
    }

    @Test("parcel-worker --log-format json: every line it logs, from start to stop, is JSON with time, level, label and message",
          .timeLimit(.minutes(1)))
    func workerLogsJSON() async throws {
        let fixture = try SubmitFixture.withMillisecondRetries()
        try await fixture.declare()
        let errors = fixture.directory.appendingPathComponent("worker.stderr")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        let worker = Process()
        worker.executableURL = builtProduct("parcel-worker") ?? repositoryRoot.appendingPathComponent(".build/debug/parcel-worker")
        worker.arguments = ["--log-format", "json", "--shutdown-timeout", "10",
                            "--retry-delays", fixture.topology.retryDelays.map(ParcelTopology.delayName).joined(separator: ",")]
        worker.environment = ProcessInfo.processInfo.environment.merging([
            "PARCELFLOW_AMQP_URL": Broker.url, "PARCELFLOW_STORE": "sqlite:\(fixture.storePath)",
            "PARCELFLOW_NAMESPACE": fixture.topology.namespace, "PARCELFLOW_LOG_LEVEL": "debug",
        ]) { $1 }
        worker.standardOutput = FileHandle.nullDevice
        worker.standardError = try FileHandle(forWritingTo: errors)
        try worker.run()
        try await fixture.submitWithLibrary(SubmitFixture.parcels(20))
        #expect(try await eventually(timeout: .seconds(30)) { try await fixture.statesCount() == [.delivered: 20] })
        worker.interrupt() // SIGINT: stops as SIGTERM does
        let deadline = ContinuousClock.now + .seconds(15)
        while worker.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!worker.isRunning && worker.terminationStatus == 0)
        if worker.isRunning { worker.terminate() }

        let text = try String(contentsOf: errors, encoding: .utf8)
        let objects = Self.objects(text)
        #expect(objects.count >= 2, "\(text)")
        for object in objects {
            for member in ["time", "level", "label", "message"] {
                #expect(object[member] is String, "\(member) in \(object)")
            }
            #expect((object["time"] as? String)?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(object)")
        }
        let messages = objects.compactMap { $0["message"] as? String }
        #expect(messages.contains("working") && messages.contains("stopped"), "\(messages)")
        // At debug, each settled task: its dotted keys are members of their own.
        let settled = objects.filter { $0["message"] as? String == "settled" }
        #expect(settled.count >= 20 * 4, "\(messages)")
        #expect(settled.allSatisfy { $0["parcel.id"] is String && $0["task.stage"] is String && $0["task.attempt"] is String },
                "\(settled.prefix(3))")
        try await fixture.tearDown()
    }

    @Test("parcelctl: PARCELFLOW_LOG_FORMAT=json, or --log-format anywhere on the line; a failure is a JSON line too; a wrong format is refused")
    func parcelctlFormats() async throws {
        let fixture = try SubmitFixture()
        let unopenable = "sqlite:\(fixture.directory.path)/missing/dir/status.db"
        let json = try await Parcelctl(environment: ["PARCELFLOW_LOG_FORMAT": "json"]).run(["status", "P-1", "--store", unopenable])
        #expect(json.status == 1)
        let failure = try #require(Self.objects(json.stderr).first)
        #expect(failure["level"] as? String == "error" && failure["label"] as? String == "parcelctl", "\(failure)")
        #expect((failure["message"] as? String)?.contains("status store") == true, "\(failure)")

        for arguments in [["--log-format", "json", "status", "P-1"], ["status", "P-1", "--log-format=json"], ["status", "--log-format", "json", "P-1"]] {
            let flagged = try await Parcelctl(environment: ["PARCELFLOW_LOG_FORMAT": "text"]).run(arguments + ["--store", unopenable])
            #expect(flagged.status == 1 && Self.objects(flagged.stderr).count == 1, "\(arguments): \(flagged.stderr)")
        }
        let text = try await Parcelctl(environment: ["PARCELFLOW_LOG_FORMAT": ""]).run(["status", "P-1", "--store", unopenable])
        #expect(text.status == 1 && text.stderr.hasPrefix("Error: "), "\(text.stderr)")

        let wrong = try await Parcelctl(environment: ["PARCELFLOW_LOG_FORMAT": ""]).run(["status", "P-1", "--log-format", "xml"])
        #expect(wrong.status == 64 && wrong.stderr.contains("'xml' is invalid for '--log-format <format>'"), "\(wrong.stderr)")
        let wrongEnvironment = try await Parcelctl(environment: ["PARCELFLOW_LOG_FORMAT": "yaml"]).run(["status", "P-1"])
        #expect(wrongEnvironment.status == 64 && wrongEnvironment.stderr.contains("PARCELFLOW_LOG_FORMAT"), "\(wrongEnvironment.stderr)")
        try FileManager.default.removeItem(at: fixture.directory)
    }
}
