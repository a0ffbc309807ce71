import Foundation
@testable import ParcelCore
import Testing

/// The fast reading of tasks (`TaskEnvelope.scanValid`) against the thorough one: it must accept the
/// tasks workers write, and never accept anything the thorough reading refuses or reads differently.
@Suite("Task scanning")
struct TaskScanningTests {
    static let now = Timestamp.parse("2026-12-01T09:30:00.250Z")!

    /// Tasks as workers write them: every stage, with what the stages before recorded.
    static func tasks(_ count: Int) -> [TaskEnvelope] {
        ParcelGenerator(seed: 7).parcels(count).enumerated().map { index, parcel in
            let stage = Stage.allCases[index % 4]
            var payload = StagePayload()
            if stage.index >= 1 { (payload.collectedAt, payload.collectionPoint) = (now, "depot-\(index % 5)") }
            if stage.index >= 2 { (payload.packedAt, payload.box) = (now.addingTimeInterval(1), .allCases[index % 3]) }
            if stage.index >= 3 { payload.inspectedAt = now.addingTimeInterval(2) }
            return TaskEnvelope(parcel: parcel, stage: stage, attempt: 1 + index % 3, createdAt: now.addingTimeInterval(3),
                                submittedAt: now, payload: payload)
        }
    }

    @Test("the tasks workers write are read by the fast path, equal to the thorough reading")
    func validTasks() throws {
        for task in Self.tasks(400) {
            let body = task.encoded()
            let scanned = try #require(TaskEnvelope.scanValid(body), "not scanned: \(String(decoding: body, as: UTF8.self))")
            #expect(scanned == task)
            #expect(try TaskEnvelope.decodeThoroughly(body).get() == scanned)
        }
    }

    @Test("key order and whitespace do not matter; escapes and non-ASCII text are read the same either way")
    func otherSpellings() throws {
        var task = Self.tasks(4)[3]
        // Sorted keys, indented: another writer's spelling of the same task.
        let pretty = Data(try #require(JSONValue.parse(task.encoded())).serialized(pretty: true).utf8)
        #expect(TaskEnvelope.scanValid(pretty) == task)
        task.parcel.recipient.name = "Yusuf Haddad — Ward 3 🏥"
        #expect(TaskEnvelope.scanValid(task.encoded()) == task)
        // An escaped quote: left to the thorough reading, which gets it right.
        task.parcel.sender.name = "Amina \"Mama\" Haddad"
        #expect(TaskEnvelope.scanValid(task.encoded()) == nil)
        #expect(try TaskEnvelope.decode(task.encoded()).get() == task)
    }

    @Test("a damaged task is never accepted by the fast path unless the thorough reading accepts it the same")
    func damagedTasks() {
        var random = SplitMix64(seed: 2026)
        let bodies = Self.tasks(40).map { Array($0.encoded()) }
        // Damage that keeps the JSON well formed, and so gets past the parser to the field rules.
        let replacements: [(String, String)] = [
            (#""attempt":1"#, #""attempt":0"#), (#""attempt":2"#, #""attempt":2.0"#), (#""attempt":3"#, #""attempt":03"#),
            (#""attempt":1"#, #""attempt":-1"#), (#""attempt":2"#, #""attempt":99999999999999999999"#),
            (#""schema_version":1"#, #""schema_version":2"#), (#""stage":"packaging""#, #""stage":"delivery""#),
            (#""letters":"#, #""letters":0,"drawings":0,"x":"#), (#""weight_grams":"#, #""weight_grams":0,"y":"#),
            (#""relation":""#, #""relation":"Mother","z":""#), (#""box":"#, #""box":null,"q":"#),
            (#""payload":{"#, #""payload":{"collected_at":"2026-13-01T00:00:00Z","#), (#""parcel_id":""#, #""parcel_id":"X"#),
            (#""collection_point":""#, #""collection_point":" ","w":""#), (#""id":""#, #""id":"-"#),
            (#"",""#, #"","task_id":"x",""#), (#""origin":""#, #""origin":"\u0007"#), (#""name":""#, #""name":""#),
        ]
        var checked = 0
        var scanned = 0
        func check(_ damaged: [UInt8]) {
            let data = Data(damaged)
            checked += 1
            guard let fast = TaskEnvelope.scanValid(data) else { return }
            scanned += 1
            #expect(TaskEnvelope.decodeThoroughly(data) == .success(fast), "\(String(decoding: damaged, as: UTF8.self))")
        }
        for body in bodies {
            let text = String(decoding: body, as: UTF8.self)
            for (old, new) in replacements where text.contains(old) {
                check(Array(text.replacingOccurrences(of: old, with: new).utf8))
            }
            for _ in 0..<60 {
                var damaged = body
                let at = Int(random.next() % UInt64(damaged.count))
                switch random.next() % 4 {
                case 0: damaged.remove(at: at)
                case 1: damaged[at] = UInt8(truncatingIfNeeded: random.next())
                case 2: damaged.insert(Array(#"{}[]",:0-. \e"#.utf8)[Int(random.next() % 13)], at: at)
                default: damaged.removeSubrange(at ..< min(damaged.count, at + Int(random.next() % 12)))
                }
                check(damaged)
            }
        }
        #expect(checked > 2_000)
        // Some damage leaves a valid task (a digit changed inside a name): those must agree too.
        #expect(scanned > 0)
    }
}
