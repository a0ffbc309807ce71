import Foundation
import ParcelTestSupport
import Testing

/// `deploy/local/bench.sh` kept honest without running it (minutes, and a release build): its C baseline
/// built strictly and run small against the test broker, the script's syntax, and the table it prints
/// made from a recorded run (`Tests/BenchRun`) and from a copy with a failed round.
@Suite("bench.sh: the C baseline's pipeline, the script, its table", .serialized, .timeLimit(.minutes(2)))
struct BenchScriptTests {
    static let source = repositoryRoot.appendingPathComponent("bench/c/amqp_baseline.c")
    static let script = repositoryRoot.appendingPathComponent("deploy/local/bench.sh")
    static let tableMaker = repositoryRoot.appendingPathComponent("deploy/local/bench_table.py")
    static let recordedRun = repositoryRoot.appendingPathComponent("Tests/BenchRun")
    static let bash = URL(fileURLWithPath: "/bin/bash")
    static let python = URL(fileURLWithPath: "/usr/bin/python3")

    static func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parcelflow-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// The C baseline compiled as bench.sh does, but with every warning an error.
    static func buildBaseline(in folder: URL) async throws -> URL {
        let flags = try await runChild(URL(fileURLWithPath: "/usr/bin/pkg-config"), ["--cflags", "--libs", "librabbitmq", "sqlite3"])
        try #require(flags.status == 0, "pkg-config: \(flags.errors)")
        let program = folder.appendingPathComponent("amqp_baseline")
        let cc = try await runChild(URL(fileURLWithPath: "/usr/bin/cc"),
                                    ["-O2", "-Wall", "-Wextra", "-Werror", "-o", program.path, source.path]
                                        + flags.output.split(whereSeparator: \.isWhitespace).map(String.init))
        try #require(cc.status == 0, "cc:\n\(cc.errors)")
        return program
    }

    @Test("amqp_baseline.c builds with -Wall -Wextra -Werror; its pipeline carries 200 parcels and reports the workers' CPU")
    func baselinePipeline() async throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let program = try await Self.buildBaseline(in: folder)
        let db = folder.appendingPathComponent("pipeline.db")
        let broker = ["PARCELFLOW_AMQP_URL": Broker.url]

        let run = try await runChild(program, ["pipeline", "200", "2", "100", db.path], environment: broker)
        try #require(run.status == 0, "\(run.output)\(run.errors)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any], "\(run.output)")
        #expect(result["ok"] as? Bool == true && result["parcels"] as? Int == 200 && result["tasks"] as? Int == 800
            && result["delivered"] as? Int == 200 && result["left_in_queues"] as? Int == 0, "\(result)")
        #expect(result["queue_type"] as? String == "quorum")
        let cpu = try #require(result["cpu_seconds"] as? [String: Double], "\(result)")
        #expect((cpu["workers"] ?? 0) > 0 && cpu["publisher"] != nil && (result["seconds"] as? Double ?? 0) > 0, "\(result)")

        // Bad input: a clear error, exit status 1, and the store file left alone.
        try FileManager.default.removeItem(at: db)
        for (arguments, message) in [(["pipeline", "0", "2", "100"], "PARCELS must be a positive integer"),
                                     (["pipeline", "200", "65", "100"], "WORKERS must be at most 64"),
                                     (["pipeline", "200", "2", "70000"], "PREFETCH must be at most 65535")] {
            let refused = try await runChild(program, arguments + [db.path], environment: broker)
            #expect(refused.status == 1 && refused.errors.contains(message), "\(arguments): \(refused.errors)")
        }
        #expect(!FileManager.default.fileExists(atPath: db.path))
        #expect(try await runChild(program, ["cleanup"], environment: broker).status == 0)
    }

    @Test("bench.sh passes bash -n; a copy with a syntax error does not")
    func scriptSyntax() async throws {
        let checked = try await runChild(Self.bash, ["-n", Self.script.path])
        #expect(checked.status == 0, "\(checked.errors)")

        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let broken = folder.appendingPathComponent("bench.sh")
        try (try String(contentsOf: Self.script, encoding: .utf8)).replacingOccurrences(of: "\ndone\n", with: "\n")
            .write(to: broken, atomically: true, encoding: .utf8)
        #expect(try await runChild(Self.bash, ["-n", broken.path]).status != 0)
    }

    /// The table bench_table.py prints for a copy of the recorded run, changed by `change` first.
    static func table(_ change: (URL) throws -> Void = { _ in }) async throws -> (lines: [String], exit: ChildExit) {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in try FileManager.default.contentsOfDirectory(atPath: recordedRun.path) where name.hasSuffix(".json") {
            try FileManager.default.copyItem(at: recordedRun.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        try change(folder)
        let exit = try await runChild(python, [tableMaker.path, folder.path])
        return (exit.lines, exit)
    }

    static func row(_ lines: [String], _ measure: String) throws -> String {
        try #require(lines.first { $0.hasPrefix("| \(measure)") }, "no row '\(measure)' in:\n\(lines.joined(separator: "\n"))")
    }

    @Test("the table of a recorded run: medians, the median of per-round ratios, each goal met or missed")
    func recordedTable() async throws {
        let (lines, exit) = try await Self.table()
        try #require(exit.status == 0, "\(exit.errors)")
        // Round 1: C 0.1983 s, ParcelFlow 0.209 s; round 2: 0.1750 and 0.139 s; ratios 1.054 and 0.794.
        #expect(try Self.row(lines, "zero-work pipeline, 200 parcels, 2 workers: wall time")
            == "| zero-work pipeline, 200 parcels, 2 workers: wall time | 0.19 s | 0.17 s | 0.92× (2 of 2) | ≤ 1.15× C | **met** |")
        #expect(try Self.row(lines, "the same: workers' CPU per task").hasSuffix("| ≤ 1.5× C's workers | **missed** |"))
        #expect(try Self.row(lines, "open loop").contains("p50"))
        #expect(try Self.row(lines, "ramp").contains("none held (the first step's p99 901 ms)"))
        #expect(try Self.row(lines, "soak (PF_BENCH_SOAK_PARCELS=0 leaves it out)").contains("not run"))
        #expect(lines.contains("No run failed."))
    }

    @Test("a failed round is listed under the table and left out of its rows; the table is printed all the same")
    func failedRound() async throws {
        let (lines, exit) = try await Self.table { folder in
            // Round 2's load test fails its verdict; round 2's bench amqp never prints its JSON.
            let pipeline = folder.appendingPathComponent("r2-pf-pipeline.json")
            var result = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: pipeline)) as? [String: Any])
            result["ok"] = false
            result["violations"] = ["3 parcel(s) lost"]
            try JSONSerialization.data(withJSONObject: result).write(to: pipeline)
            try FileManager.default.removeItem(at: folder.appendingPathComponent("r2-pf-amqp.json"))
            try Data("error: connection refused\nexit status 1\n".utf8).write(to: folder.appendingPathComponent("r2-pf-amqp.err"))
        }
        try #require(exit.status == 0, "\(exit.errors)")
        #expect(try Self.row(lines, "zero-work pipeline, 200 parcels, 2 workers: wall time")
            == "| zero-work pipeline, 200 parcels, 2 workers: wall time | 0.19 s | 0.21 s | 1.05× (1 of 2) | ≤ 1.15× C | **met** |")
        #expect(try Self.row(lines, "AMQP consume").contains("(1 of 2)"))
        #expect(lines.contains("Failed runs (left out of their rows):"))
        #expect(lines.contains("- r2-pf-pipeline: verdict failed: 3 parcel(s) lost"))
        #expect(lines.contains("- r2-pf-amqp: error: connection refused / exit status 1"))
    }

    @Test("with a soak run, its rows: drift, worker RSS, parcelctl's CPU, the report's and /api/report's times (medians)")
    func soakRows() async throws {
        let (lines, exit) = try await Self.table { folder in
            let soak = #"{"ok": true, "parcels": 200000, "soak": {"first_parcels_per_s": 2200, "#
                + #""last_parcels_per_s": 1870, "last_over_first": 0.85, "worker_rss_mb_max": 31.2, "parcelctl_cpu_share": 0.021, "#
                + #""store_mb_end": 412}}"#
            try Data(soak.utf8).write(to: folder.appendingPathComponent("pf-soak.json"))
            try Data(#"{"report_seconds": [0.31, 0.36, 0.29], "api_report_seconds": [0.6, 0.4, null]}"#.utf8)
                .write(to: folder.appendingPathComponent("pf-soak-report-time.json"))
        }
        try #require(exit.status == 0, "\(exit.errors)")
        #expect(try Self.row(lines, "soak, 200,000 parcels: last full interval's throughput / first's (2,200 parcels/s → 1,870 parcels/s)")
            .hasSuffix("| 0.85× |  | ≥ 0.90 | **missed** |"))
        #expect(try Self.row(lines, "soak: a worker's largest RSS").contains("| 31.2 MB |  | < 40 MB | **met** |"))
        #expect(try Self.row(lines, "soak: `parcelctl`'s CPU").contains("| 2.1 % |"))
        #expect(try Self.row(lines, "soak: `parcelctl report --json` on its store (412 MB, median of 3)").contains("| 0.31 s |  | < 0.5 s | **met** |"))
        // A request that failed is left out of the median (of 0.6 and 0.4).
        #expect(try Self.row(lines, "soak: the dashboard's `/api/report` on its store (412 MB, median of 2)").contains("| 0.50 s |  | < 0.5 s | **missed** |"))
    }
}
