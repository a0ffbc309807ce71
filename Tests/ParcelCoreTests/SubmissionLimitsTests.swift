import Foundation
import ParcelCore
import Testing

@Suite("Submission files: bounded before they are held")
struct SubmissionLimitsTests {
    static let header = "id,sender_name,sender_relation,recipient_name,recipient_facility,letters,drawings,weight_grams,origin\n"
    static let good = "P-1,Amina,mother,Yusuf,Ward 3,2,1,120,depot-north\n"

    @Test("a CSV record or a JSON line over the line limit is a problem on its line; its neighbours are read")
    func longLines() {
        let long = String(repeating: "x", count: 70_000)
        let csv = SubmissionReader.read(Data((Self.header + Self.good + "P-2,\(long),mother,Y,W,1,1,1,o\n"
            + "P-3,\"Ana\n\(long)\",wife,Y,W,1,1,1,o\n" + "P-4,Ana,wife,Y,W,1,1,1,o\n").utf8), format: .csv)
        #expect(csv.problems.map(\.description) == [
            "line 3: the record is 70,023 bytes long, over the limit of 65,536 bytes for one parcel",
            "line 4: the record is 70,027 bytes long, over the limit of 65,536 bytes for one parcel",
        ])
        #expect(csv.parcels.map(\.line) == [2, 6])

        let jsonl = SubmissionReader.read(Data("{\"id\":\"\(long)\"}\n".utf8), format: .jsonl)
        #expect(jsonl.problems.map(\.description) == ["line 1: the line is 70,009 bytes long, over the limit of 65,536 bytes for one parcel"])
        let header = SubmissionReader.read(Data((long + "\n" + Self.good).utf8), format: .csv)
        #expect(header.problems.map(\.description) == ["line 1: header: the line is 70,000 bytes long, over the limit of 65,536 bytes for one parcel"])
        // At the limit exactly (the header, the longest line here), a line is read.
        let atLimit = SubmissionReader.read(Data((Self.header + Self.good).utf8), format: .csv, maxLineBytes: Self.header.utf8.count - 1)
        #expect(atLimit.problems.isEmpty && atLimit.parcels.count == 1)
    }

    @Test("a file over the size limit is refused by its size, a pipe by what arrives, a folder by what it is")
    func fileSize() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parcelflow-limits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("parcels.csv").path
        try Data((Self.header + Self.good).utf8).write(to: URL(fileURLWithPath: path))
        let size = (Self.header + Self.good).utf8.count
        #expect(try SubmissionReader.load(path: path, maxBytes: size).count == size)
        #expect(throws: SubmissionFileError("the file is \(size) bytes, over the limit of \(size - 1) bytes (--max-file-size); split it into smaller files")) {
            try SubmissionReader.load(path: path, maxBytes: size - 1)
        }
        #expect(throws: SubmissionFileError("it is a folder, not a file")) { try SubmissionReader.load(path: folder.path) }
        #expect(throws: SubmissionFileError("No such file or directory")) { try SubmissionReader.load(path: path + ".missing") }

        // A named pipe has no size to look at: what comes through it is cut off after the limit.
        let fifo = folder.appendingPathComponent("pipe.csv").path
        #expect(mkfifo(fifo, 0o600) == 0)
        // The reader closes its end early; the writer must see EPIPE, not die of SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let writer = Thread {
            let handle = FileHandle(forWritingAtPath: fifo)
            try? handle?.write(contentsOf: Data(count: 8192))
            try? handle?.close()
        }
        writer.start()
        #expect(throws: SubmissionFileError("the file is larger than that, over the limit of 4,096 bytes (--max-file-size); split it into smaller files")) {
            try SubmissionReader.load(path: fifo, maxBytes: 4096)
        }
    }
}
