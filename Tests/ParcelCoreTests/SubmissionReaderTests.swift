import Foundation
import ParcelCore
import Testing

@Suite("Reading submission files")
struct SubmissionReaderTests {
    static let header = "id,sender_name,sender_relation,recipient_name,recipient_facility,letters,drawings,weight_grams,origin\n"

    func csv(_ rows: String) -> SubmissionReadout {
        SubmissionReader.read(Data((Self.header + rows).utf8), format: .csv)
    }

    @Test("a good CSV file yields every parcel with its line, quotes and commas included")
    func goodCSV() throws {
        let readout = csv("""
            P-1,Amina,mother,Yusuf,"Ward 3, North",2,1,120,depot-north
            P-2,"Leila ""Lulu"" B.",daughter,Omar,Camp Bastion,0,3,80,depot-south\r
            P-3,Ana,wife,"João
            Silva",Base 7,1,0,20,depot-east
            P-4,Ana,wife,João Silva,Base 7,1,0,20,depot-east

            """)
        // A quoted field may span lines in CSV, but a name with a line break is refused: the problem
        // is reported on the line the record starts, and the next record keeps its true line number.
        #expect(readout.problems.map(\.description) == ["line 4: recipient_name: contains a control character"])
        #expect(readout.parcels.map(\.line) == [2, 3, 6])
        #expect(readout.parcels[0].parcel.recipient.facility == "Ward 3, North")
        #expect(readout.parcels[1].parcel.sender.name == "Leila \"Lulu\" B.")
        #expect(readout.parcels[2].parcel.recipient.name == "João Silva")
        #expect(readout.records == 4)
    }

    @Test("every bad CSV line is reported with its line number and field")
    func badCSV() {
        let readout = csv("""
            P-1,Amina,mother,Yusuf,Ward 3,2,1,120,depot-north
            P-2,Amina,cousin2,Yusuf,Ward 3,2,1,120,depot-north
            P-3,Amina,mother,Yusuf,Ward 3,two,1,120,depot-north
            P-4,,mother,Yusuf,Ward 3,1,1,120,depot-north
            P-1,Amina,mother,Yusuf,Ward 3,2,1,120,depot-north
            P-5,Amina,mother,Yusuf,Ward 3,2,1,120
            P-6,Amina,mother,Yusuf,Ward 3,0,0,120,depot-north
            P-7,Amina,mother,Yusuf,Ward 3,1,1,99999,depot-north
            """)
        let byLine = Dictionary(grouping: readout.problems, by: \.line)
        #expect(byLine[2] == nil)
        #expect(byLine[3]?.first?.field == "sender_relation")
        #expect(byLine[3]?.first?.message.contains("'cousin2' is not a known relation") == true)
        #expect(byLine[4]?.first?.field == "letters")
        #expect(byLine[4]?.first?.message.contains("whole number") == true)
        #expect(byLine[5]?.first?.field == "sender_name")
        #expect(byLine[6]?.first?.message == "'P-1' appears again (first on line 2)")
        #expect(byLine[7]?.first?.message == "expected 9 fields, found 8")
        #expect(byLine[8]?.first?.message.contains("at least one letter or drawing") == true)
        #expect(byLine[9]?.first?.field == "weight_grams")
        #expect(readout.parcels.map(\.parcel.id) == ["P-1"])
        #expect(readout.invalidLines == [3, 4, 5, 6, 7, 8, 9])
    }

    @Test("a broken quote and invalid UTF-8 are reported where they are")
    func brokenQuoteAndEncoding() {
        var bytes = Array((Self.header + "P-1,Am").utf8)
        bytes += [0xFF, 0xFE]
        bytes += Array("ina,mother,Yusuf,Ward 3,2,1,120,depot-north\nP-2,\"Amina,mother,Yusuf,Ward 3,2,1,120,depot-north\n".utf8)
        let readout = SubmissionReader.read(Data(bytes), format: .csv)
        #expect(readout.problems.count == 2)
        #expect(readout.problems[0].line == 2)
        #expect(readout.problems[0].field == "sender_name")
        #expect(readout.problems[0].message.contains("not valid UTF-8"))
        #expect(readout.problems[1].line == 3)
        #expect(readout.problems[1].message.contains("never closed"))
        #expect(readout.parcels.isEmpty)
    }

    @Test("a CSV header with missing or unknown columns is refused as a whole")
    func badHeader() {
        let readout = SubmissionReader.read(Data("id,sender,relation\nP-1,a,b\n".utf8), format: .csv)
        #expect(readout.problems.count == 1)
        #expect(readout.problems[0].line == 1)
        #expect(readout.problems[0].message.contains("missing column(s)"))
        #expect(readout.problems[0].message.contains("unknown column(s) 'sender', 'relation'"))
    }

    @Test("a CSV header's problem names each bad column once, cut, and stays within a reason's length")
    func hugeHeader() {
        // Found by the submission-reader fuzzer: 169 bytes of commas made a 1,304-byte message.
        let commas = SubmissionReader.read(Data((String(repeating: ",", count: 10_000) + "\n").utf8), format: .csv)
        #expect(commas.problems.count == 1)
        #expect(commas.problems[0].message.contains("unknown column(s) ''; repeated column(s) '' (expected"))
        let long = String(repeating: "n", count: 5_000)
        let names = SubmissionReader.read(Data("id,\(long),\(long)x,\(long)y\n".utf8), format: .csv)
        #expect(names.problems.count == 1)
        #expect(names.problems[0].message.utf8.count <= Echo.maxReasonBytes)
        #expect(names.problems[0].message.contains("'\(String(repeating: "n", count: 64))…(4936 more bytes)'"))
    }

    @Test("JSON Lines: good lines parse, bad ones say why")
    func jsonLines() {
        let good = #"{"id":"P-1","sender":{"name":"Amina","relation":"mother"},"recipient":{"name":"Yusuf","facility":"Ward 3"},"contents":{"letters":2,"drawings":1},"weight_grams":120,"origin":"depot-north"}"#
        let lines = [
            good,
            "",
            #"{"id":"P-2","sender":{"name":"Amina","relation":"aunt"},"recipient":{"name":"Yusuf","facility":"Ward 3"},"contents":{"letters":"2","drawings":1},"weight_grams":120,"origin":"x"}"#,
            #"{"id":"P-3", "#,
            #"{"id":"P-4","sender":{"name":"A","relation":"mother"},"recipient":{"name":"Y"},"contents":{"letters":1,"drawings":1},"weight_grams":1,"origin":"x","colour":"red"}"#,
        ]
        let readout = SubmissionReader.read(Data(lines.joined(separator: "\n").utf8), format: .jsonl)
        #expect(readout.parcels.map(\.parcel.id) == ["P-1"])
        #expect(readout.records == 4)
        let messages = readout.problems.map(\.description)
        #expect(messages.contains("line 3: contents.letters: expected a whole number, got \"2\""))
        #expect(messages.contains("line 4: not valid JSON"))
        #expect(messages.contains("line 5: colour: is not a known field"))
        #expect(messages.contains("line 5: recipient.facility: is missing"))
    }

    @Test("the format follows the file's extension")
    func formats() {
        #expect(SubmissionFormat(path: "december.CSV") == .csv)
        #expect(SubmissionFormat(path: "/tmp/a.jsonl") == .jsonl)
        #expect(SubmissionFormat(path: "a.ndjson") == .jsonl)
        #expect(SubmissionFormat(path: "a.txt") == nil)
    }
}
