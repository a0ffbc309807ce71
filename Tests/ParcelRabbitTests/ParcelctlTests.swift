import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// Runs the built `parcelctl` the way warehouse staff do, on a thread of its own.
struct Parcelctl {
    let environment: [String: String]

    static var binary: String { (builtProduct("parcelctl") ?? repositoryRoot.appendingPathComponent(".build/debug/parcelctl")).path }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    func run(_ arguments: [String]) async throws -> Result {
        let exit = try await runChild(URL(fileURLWithPath: Self.binary), arguments, environment: environment)
        return Result(status: exit.status, stdout: exit.output, stderr: exit.errors)
    }
}

@Suite("parcelctl for warehouse staff")
struct ParcelctlTests {
    @Test("submit --file, then status: the file's parcels are queued and their history shows", .timeLimit(.minutes(1)))
    func submitFileAndStatus() async throws {
        let fixture = try SubmitFixture()
        let cli = fixture.cli()
        #expect(try await cli.run(["setup"]).status == 0)
        let file = try fixture.write("december.csv", SubmitFixture.csv(SubmitFixture.parcels(250)))
        let submitted = try await cli.run(["submit", "--file", file])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        #expect(submitted.stdout.contains("Queued 250 parcels for collection."))
        #expect(!submitted.stderr.contains("["), "no progress bar when output is not a terminal")
        #expect(try await fixture.collectionDepth() == 250)

        let rerun = try await cli.run(["submit", "--file", file])
        #expect(rerun.status == 0)
        #expect(rerun.stdout.contains("Already submitted, left as they are: 250 parcels"))
        #expect(try await fixture.collectionDepth() == 250)

        let status = try await cli.run(["status", "P-7", "--json"])
        #expect(status.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect((object["status"] as? [String: Any])?["state"] as? String == "queued")
        #expect((object["history"] as? [[String: Any]])?.compactMap { $0["kind"] as? String } == ["submitted", "queued"])
        let text = try await cli.run(["status", "P-7"])
        #expect(text.stdout.contains("Parcel P-7: queued for collection"))
        let missing = try await cli.run(["status", "P-nope"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no parcel has the id 'P-nope'"))
        try await fixture.tearDown()
    }

    @Test("a file with bad lines reports each one with its line and field, and queues nothing", .timeLimit(.minutes(1)))
    func badFileQueuesNothing() async throws {
        let fixture = try SubmitFixture()
        let cli = fixture.cli()
        #expect(try await cli.run(["setup"]).status == 0)
        var bytes = Array(SubmitFixture.csv(SubmitFixture.parcels(5)).utf8)
        bytes += Array("""
            B-1,Amina,cousin2,Yusuf,Ward 3,1,1,100,depot
            B-2,Amina,mother,Yusuf,Ward 3,one,1,100,depot
            B-3,Amina,mother,Yusuf,Ward 3,1,1,100
            P-2,Amina,mother,Yusuf,Ward 3,1,1,100,depot
            B-5,Am
            """.utf8) + [0xC3, 0x28] + Array("ina,mother,Yusuf,Ward 3,1,1,100,depot\nB-6,\"Amina,mother,Yusuf,Ward 3,1,1,100,depot\n".utf8)
        let path = fixture.directory.appendingPathComponent("bad.csv").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let result = try await cli.run(["submit", "--file", path])
        #expect(result.status != 0)
        for expected in [
            "bad.csv:7: sender_relation: 'cousin2' is not a known relation",
            "bad.csv:8: letters: expected a whole number, got \"one\"",
            "bad.csv:9: expected 9 fields, found 8",
            "bad.csv:10: id: 'P-2' appears again (first on line 4)",
            "bad.csv:11: sender_name: not valid UTF-8",
            "bad.csv:12: a quoted field that opens on this line is never closed",
            "nothing was submitted: 6 of 11 lines in \(path) are invalid",
        ] {
            #expect(result.stderr.contains(expected), "missing: \(expected)\n\(result.stderr)")
        }
        #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack"))
        #expect(try await fixture.collectionDepth() == 0)
        let store = try await SQLiteStatusStore.open(path: fixture.storePath)
        #expect(try await store.countsByState().isEmpty)
        await store.close()

        let skipping = try await cli.run(["submit", "--file", path, "--skip-invalid"])
        #expect(skipping.status == 0, "\(skipping.stderr)")
        #expect(skipping.stdout.contains("Queued 5 parcels for collection."))
        #expect(try await fixture.collectionDepth() == 5)
        try await fixture.tearDown()
    }

    @Test("a file over --max-file-size, or with a line over 64 KiB, is refused with its name and nothing is submitted; a file is read once (a named pipe works)",
          .timeLimit(.minutes(1)))
    func fileLimits() async throws {
        let fixture = try SubmitFixture()
        let cli = fixture.cli()
        #expect(try await cli.run(["setup"]).status == 0)
        let file = try fixture.write("december.csv", SubmitFixture.csv(SubmitFixture.parcels(20)))
        let size = try #require(FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        let big = try await cli.run(["submit", "--file", file, "--max-file-size", "\(size - 1)"])
        #expect(big.status != 0)
        #expect(big.stderr.contains("cannot read '\(file)': the file is \(NumberText.integer(size)) bytes, over the limit of "
            + "\(NumberText.integer(size - 1)) bytes (--max-file-size); split it into smaller files; nothing was submitted"), "\(big.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fixture.storePath), "the store was not even opened")

        let long = try fixture.write("long.jsonl", SubmitFixture.parcels(2).map { TaskEnvelope.encode($0) }.joined(separator: "\n")
            + "\n{\"id\": \"" + String(repeating: "A", count: 70_000) + "\"}\n")
        let refused = try await cli.run(["submit", "--file", long])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("long.jsonl:3: the line is 70,010 bytes long, over the limit of 65,536 bytes for one parcel"),
                "\(refused.stderr)")
        #expect(refused.stderr.contains("nothing was submitted: 1 of 3 lines"))
        #expect(!refused.stderr.contains("AAAA"), "the line itself is not echoed")
        #expect(try await fixture.collectionDepth() == 0)

        // A pipe can be read only once: reading it twice (a check, then a submit) would find it empty.
        let pipe = fixture.directory.appendingPathComponent("from-pipe.csv").path
        #expect(mkfifo(pipe, 0o600) == 0)
        let contents = Data(SubmitFixture.csv(SubmitFixture.parcels(20)).utf8)
        let writer = Thread {
            let handle = FileHandle(forWritingAtPath: pipe)
            try? handle?.write(contentsOf: contents)
            try? handle?.close()
        }
        writer.start()
        let piped = try await cli.run(["submit", "--file", pipe])
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stdout.contains("Queued 20 parcels for collection."))
        #expect(try await fixture.collectionDepth() == 20)
        try await fixture.tearDown()
    }

    @Test("an unreachable broker is one clear line, stores nothing, and never shows the password")
    func brokerUnreachable() async throws {
        let fixture = try SubmitFixture()
        let cli = fixture.cli(url: "amqp://guest:s3cret-pw@127.0.0.1:1/%2f")
        let file = try fixture.write("few.jsonl", SubmitFixture.parcels(3).map { TaskEnvelope.encode($0) }.joined(separator: "\n"))
        let result = try await cli.run(["submit", "--file", file])
        #expect(result.status != 0)
        #expect(result.stderr.contains("connection refused"))
        #expect(!result.stderr.contains("s3cret-pw") && !result.stdout.contains("s3cret-pw"))
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fixture.storePath), "the store was not even opened")
        try? FileManager.default.removeItem(at: fixture.directory)
    }

    @Test("submit before setup says to run setup")
    func submitBeforeSetup() async throws {
        let fixture = try SubmitFixture()
        let file = try fixture.write("one.csv", SubmitFixture.csv(SubmitFixture.parcels(1)))
        let result = try await fixture.cli().run(["submit", "--file", file])
        #expect(result.status != 0)
        #expect(result.stderr.contains("run `parcelctl setup` first"), "\(result.stderr)")
        try? FileManager.default.removeItem(at: fixture.directory)
    }
}
