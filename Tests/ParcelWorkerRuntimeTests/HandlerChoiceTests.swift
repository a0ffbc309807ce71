import ParcelCore
import ParcelWorkerRuntime
import Testing

@Suite("Handler choice: --handler [STAGE=]KIND[:ARGUMENT]")
struct HandlerChoiceTests {
    @Test("nothing chosen: every stage simulated")
    func defaults() throws {
        let choice = try HandlerChoice(parsing: [], source: "--handler")
        #expect(Stage.allCases.allSatisfy { choice[$0] == .simulated })
    }

    @Test("a choice for every stage, and per-stage choices over it")
    func perStage() throws {
        let choice = try HandlerChoice(parsing: [
            "delivery=http:https://carrier.example/handover?x=1",
            "inspection=rules:deploy/handlers/inspection-rules.json",
            "simulated",
        ], source: "--handler")
        #expect(choice[.collection] == .simulated && choice[.packaging] == .simulated)
        #expect(choice[.inspection] == .rules(path: "deploy/handlers/inspection-rules.json"))
        #expect(choice[.delivery] == .http(url: "https://carrier.example/handover?x=1"))
        #expect(choice.summary.contains("delivery=http:https://carrier.example/handover?x=1"))
        // A URL's own '=' is not taken for a stage.
        #expect(try HandlerChoice(parsing: ["http:http://h/p?a=b"], source: "--handler")[.collection] == .http(url: "http://h/p?a=b"))
    }

    @Test("each mistake is named with the words that made it", arguments: [
        ("shipping=simulated", "'shipping' is not a stage"),
        ("inspection=magic", "'magic' is not a handler"),
        ("rules:", "rules needs a file"),
        ("delivery=http:ftp://x", "http needs an http:// or https:// URL"),
        ("simulated:fast", "simulated takes no argument"),
    ])
    func mistakes(word: String, problem: String) {
        #expect {
            try HandlerChoice(parsing: [word], source: "PARCELFLOW_HANDLERS")
        } throws: { error in
            let text = "\(error)"
            return text.contains(problem) && text.hasPrefix("PARCELFLOW_HANDLERS '\(word)'")
        }
    }

    @Test("a stage given two handlers is refused, not silently decided")
    func twice() {
        #expect(throws: HandlerChoiceError.self) {
            try HandlerChoice(parsing: ["inspection=simulated", "inspection=rules:a.json"], source: "--handler")
        }
        #expect(throws: HandlerChoiceError.self) {
            try HandlerChoice(parsing: ["simulated", "http:http://h/"], source: "--handler")
        }
    }

    @Test("a hostile word is escaped in the message")
    func escaped() {
        #expect {
            try HandlerChoice(parsing: ["\u{1b}[2Jboom"], source: "--handler")
        } throws: { error in !"\(error)".contains("\u{1b}") }
    }
}
