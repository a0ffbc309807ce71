import Foundation
@testable import ParcelCore
import ParcelTestSupport
import Testing

/// A parcel's declared items (`contents.items`): their rules, and their way through every format —
/// the task (encoder, fast scanner, thorough reader), JSON Lines and CSV.
@Suite("Declared items")
struct DeclaredItemsTests {
    static let now = Timestamp.parse("2026-12-01T09:30:00.250Z")!

    func withItems(_ items: [String]) -> Parcel {
        var parcel = sampleParcel
        parcel.contents.items = items
        return parcel
    }

    /// sampleParcel without the escaped quotes in its sender's name, which the fast scanner leaves
    /// to the thorough reader.
    func plain(_ items: [String]) -> Parcel {
        var parcel = withItems(items)
        parcel.sender.name = "Amina Haddad"
        return parcel
    }

    @Test("items are optional; at most 20, each 1 to 60 characters, no control characters, not blank")
    func rules() {
        #expect(sampleParcel.validationIssues.isEmpty)
        #expect(withItems(["chocolate", "Knitted \"lucky\" socks", "📷 photo", String(repeating: "é", count: 60)]).validationIssues.isEmpty)
        #expect(withItems((1...20).map { "item \($0)" }).validationIssues.isEmpty)
        #expect(withItems((1...21).map { "item \($0)" }).validationIssues.map(\.description)
            == ["contents.items: declares 21 items, at most 20"])
        #expect(withItems(["chocolate", "  ", "", String(repeating: "x", count: 61), "bell\u{07}", "é\u{85}"]).validationIssues.map(\.description) == [
            "contents.items[1]: is empty", "contents.items[2]: is empty", "contents.items[3]: is longer than 60 characters",
            "contents.items[4]: contains a control character", "contents.items[5]: contains a control character",
        ])
        #expect(withItems([String(repeating: "é", count: 61)]).validationIssues.map(\.description)
            == ["contents.items[0]: is longer than 60 characters"])
    }

    @Test("a parcel without items is encoded exactly as before items existed; one with items carries them")
    func encoding() {
        // Byte for byte the encoding of a parcel before this field (a stored parcel compares equal).
        #expect(TaskEnvelope.encode(sampleParcel) == #"{"id":"P-2026-000001","sender":{"name":"Amina \"Mama\" Haddad","relation":"mother"},"#
            + #""recipient":{"name":"Yusuf Haddad","facility":"Ward 3, St. Mary's — North wing 🏥"},"contents":{"letters":2,"drawings":1},"#
            + #""weight_grams":120,"origin":"depot-north"}"#)
        #expect(TaskEnvelope.encode(withItems(["chocolate", "a \"b\""])).contains(#""contents":{"letters":2,"drawings":1,"items":["chocolate","a \"b\""]}"#))
    }

    @Test("tasks with items: the fast scanner and the thorough reader read them equal, at every stage")
    func wireRoundTrips() throws {
        let itemLists: [[String]] = [[], ["chocolate"], ["chocolate", "photo", "Batteries"], (1...20).map { "item \($0)" },
                                     ["Zoë's drawing 🎨", "李小龍"]]
        for items in itemLists {
            for stage in Stage.allCases {
                var payload = StagePayload()
                if stage.index >= 1 { (payload.collectedAt, payload.collectionPoint) = (Self.now, "depot-north") }
                if stage.index >= 2 { (payload.packedAt, payload.box) = (Self.now, .smallBox) }
                if stage.index >= 3 { payload.inspectedAt = Self.now }
                let task = TaskEnvelope(parcel: plain(items), stage: stage, createdAt: Self.now, submittedAt: Self.now,
                                        payload: payload)
                let body = task.encoded()
                let scanned = try #require(TaskEnvelope.scanValid(body), "not scanned: \(items)")
                #expect(scanned == task)
                #expect(try TaskEnvelope.decodeThoroughly(body).get() == task)
            }
        }
        // Other spellings the scanner leaves to the thorough reader, which reads them the same.
        let task = TaskEnvelope(parcel: plain(["a \"quoted\" item"]), stage: .collection, createdAt: Self.now, submittedAt: Self.now)
        #expect(TaskEnvelope.scanValid(task.encoded()) == nil)
        #expect(try TaskEnvelope.decode(task.encoded()).get() == task)
        // An explicit empty list is no items, in both readers.
        let base = TaskEnvelope(parcel: plain([]), stage: .collection, createdAt: Self.now, submittedAt: Self.now)
        let empty = Data(String(decoding: base.encoded(), as: UTF8.self)
            .replacingOccurrences(of: #""drawings":1}"#, with: #""drawings":1,"items":[ ]}"#).utf8)
        #expect(TaskEnvelope.scanValid(empty) == base)
        #expect(try TaskEnvelope.decodeThoroughly(empty).get() == base)
    }

    @Test("bad items in a task are refused by both readers, with the field named")
    func badItemsInTasks() throws {
        let base = String(decoding: TaskEnvelope(parcel: plain([]), stage: .collection, createdAt: Self.now,
                                                 submittedAt: Self.now).encoded(), as: UTF8.self)
        let cases: [(String, String)] = [
            (#""items":"chocolate""#, #"parcel.contents.items: expected an array of strings, got "chocolate""#),
            (#""items":["a",5,6]"#, "parcel.contents.items[1]: expected a string, got 5"),
            (#""items":["a","  "]"#, "parcel.contents.items[1]: is empty"),
            (#""items":["a\u0007"]"#, "parcel.contents.items[0]: contains a control character"),
            (#""items":[\#((1...21).map { "\"i\($0)\"" }.joined(separator: ","))]"#, "parcel.contents.items: declares 21 items, at most 20"),
            (#""items":null"#, "parcel.contents.items: expected an array of strings, got null"),
        ]
        #expect(TaskEnvelope.scanValid(Data(base.utf8)) != nil, "the fast scanner reads the base task")
        for (items, reason) in cases {
            let body = Data(base.replacingOccurrences(of: #""drawings":1}"#, with: #""drawings":1,\#(items)}"#).utf8)
            #expect(TaskEnvelope.scanValid(body) == nil, "\(items)")
            switch TaskEnvelope.decode(body) {
            case .success: Issue.record("accepted \(items)")
            case .failure(let rejection): #expect(rejection.reason.contains(reason), "\(rejection.reason)")
            }
        }
    }

    @Test("JSON Lines: contents.items read as written; CSV: an optional items column, split on ';'")
    func submissionFormats() {
        let jsonl = """
            {"id":"P-1","sender":{"name":"A","relation":"mother"},"recipient":{"name":"B","facility":"F"},"contents":{"letters":1,"drawings":0,"items":["chocolate","photo"]},"weight_grams":10,"origin":"o"}
            {"id":"P-2","sender":{"name":"A","relation":"mother"},"recipient":{"name":"B","facility":"F"},"contents":{"letters":1,"drawings":0},"weight_grams":10,"origin":"o"}
            {"id":"P-3","sender":{"name":"A","relation":"mother"},"recipient":{"name":"B","facility":"F"},"contents":{"letters":1,"drawings":0,"items":[1,2,3]},"weight_grams":10,"origin":"o"}
            """
        let read = SubmissionReader.read(Data(jsonl.utf8), format: .jsonl)
        #expect(read.parcels.map(\.parcel.contents.items) == [["chocolate", "photo"], []])
        #expect(read.problems.map(\.description) == ["line 3: contents.items[0]: expected a string, got 1"])

        let header = ParcelParsing.csvColumns.joined(separator: ",")
        let csv = """
            \(header),items
            P-1,A,mother,B,F,1,0,10,o,chocolate; photo ;
            P-2,A,mother,B,F,1,0,10,o,
            P-3,A,mother,B,F,1,0,10,o,"Batteries;;a,b"
            P-4,A,mother,B,F,1,0,10,o,\((1...21).map { "i\($0)" }.joined(separator: ";"))
            P-5,A,mother,B,F,1,0,10,o,ok;\(String(repeating: "x", count: 61))
            """
        let fromCSV = SubmissionReader.read(Data(csv.utf8), format: .csv)
        #expect(fromCSV.parcels.map(\.parcel.contents.items) == [["chocolate", "photo"], [], ["Batteries", "a,b"]])
        #expect(fromCSV.problems.map(\.description) == [
            "line 5: items: declares 21 items, at most 20", "line 6: items[1]: is longer than 60 characters",
        ])
        // Without the column, as before; the column is named in the header's message as optional.
        let without = SubmissionReader.read(Data("\(header)\nP-1,A,mother,B,F,1,0,10,o\n".utf8), format: .csv)
        #expect(without.parcels.first?.parcel.contents.items == [])
        let wrong = SubmissionReader.read(Data("\(header),itemz\n".utf8), format: .csv)
        #expect(wrong.problems.first?.message.contains("unknown column(s) 'itemz'") == true)
        #expect(wrong.problems.first?.message.contains("and optionally items") == true)
        // The generator writes the column only when some parcel has items, and its file reads back equal.
        var other = sampleParcel
        other.id = "P-2026-000002"
        let parcels = [withItems(["chocolate", "photo"]), other]
        let generated = SubmissionReader.read(Data(ParcelGenerator.csv(parcels).utf8), format: .csv)
        #expect(generated.parcels.map(\.parcel) == parcels, "\(generated.problems)")
        #expect(!ParcelGenerator.csv([sampleParcel]).contains("items"))
    }
}
