import ParcelCore

/// Which handler does each stage's work, as ops say it: `--handler [STAGE=]KIND[:ARGUMENT]`, repeated,
/// or the same words in `PARCELFLOW_HANDLERS` (separated by spaces), e.g.
///
///     --handler simulated
///     --handler inspection=rules:/etc/parcelflow/inspection-rules.json
///     --handler delivery=http:https://carrier.example/handover
///
/// A choice without a stage is every stage's unless a choice with that stage says otherwise; a stage
/// nobody names runs the simulator. Pure parsing: the worker builds the handlers.
public enum HandlerKind: Sendable, Hashable, CustomStringConvertible {
    /// ``SimulatedStageHandler``: the demo's and the load test's, with the worker's fault options.
    case simulated
    /// The inspection rules in a JSON file (schemas/inspection-rules.v1.schema.json).
    case rules(path: String)
    /// A POST of the task to a service.
    case http(url: String)

    public var description: String {
        switch self {
        case .simulated: "simulated"
        case .rules(let path): "rules:\(path)"
        case .http(let url): "http:\(Self.withoutCredentials(url))"
        }
    }
}

extension HandlerKind {
    /// `url` with whatever stands between `://` and the authority's last `@` (a user and password)
    /// replaced by `…`: a handler's description goes into logs.
    public static func withoutCredentials(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<schemeEnd.upperBound]) + "…" + String(rest[at...])
    }
}

public struct HandlerChoice: Sendable, Hashable {
    /// The kinds, as an error lists them.
    public static let kinds = "simulated, rules:FILE or http:URL"

    /// The handler of every stage.
    public private(set) var handlers: [Stage: HandlerKind]

    public init(handlers: [Stage: HandlerKind] = [:]) {
        var all = handlers
        for stage in Stage.allCases where all[stage] == nil { all[stage] = .simulated }
        self.handlers = all
    }

    public subscript(stage: Stage) -> HandlerKind { handlers[stage] ?? .simulated }

    /// Reads the choices in `words` (each `[STAGE=]KIND[:ARGUMENT]`); `source` names where they came
    /// from in an error ("--handler", "PARCELFLOW_HANDLERS").
    public init(parsing words: [String], source: String) throws(HandlerChoiceError) {
        var everyStage: HandlerKind?
        var perStage: [Stage: HandlerKind] = [:]
        for word in words {
            let fail = { (problem: String) in HandlerChoiceError(source: source, word: HandlerKind.withoutCredentials(word), problem: problem) }
            var spec = Substring(word)
            var stage: Stage?
            // A stage name before '=' (a URL's own '=' comes after its "http:").
            if let equals = spec.firstIndex(of: "="), !spec[..<equals].contains(":") {
                let name = spec[..<equals]
                guard let named = Stage(rawValue: String(name)) else {
                    throw fail("'\(name)' is not a stage (collection, packaging, inspection, delivery)")
                }
                stage = named
                spec = spec[spec.index(after: equals)...]
            }
            let kind: HandlerKind
            let colon = spec.firstIndex(of: ":")
            let name = colon.map { spec[..<$0] } ?? spec
            let argument = colon.map { String(spec[spec.index(after: $0)...]) } ?? ""
            switch name {
            case "simulated":
                guard colon == nil else { throw fail("simulated takes no argument") }
                kind = .simulated
            case "rules":
                guard !argument.isEmpty else { throw fail("rules needs a file: rules:PATH") }
                kind = .rules(path: argument)
            case "http":
                guard argument.hasPrefix("http://") || argument.hasPrefix("https://") else {
                    throw fail("http needs an http:// or https:// URL: http:https://HOST/PATH")
                }
                kind = .http(url: argument)
            default:
                throw fail("'\(name)' is not a handler (\(Self.kinds))")
            }
            if let stage {
                guard perStage[stage] == nil else { throw fail("\(stage) is given a handler twice") }
                perStage[stage] = kind
            } else {
                guard everyStage == nil else { throw fail("a handler for every stage is given twice") }
                everyStage = kind
            }
        }
        var handlers: [Stage: HandlerKind] = [:]
        for stage in Stage.allCases { handlers[stage] = perStage[stage] ?? everyStage ?? .simulated }
        self.init(handlers: handlers)
    }

    /// The choices as one line, for the worker's first log line: `collection=simulated …`.
    public var summary: String {
        Stage.allCases.map { "\($0)=\(self[$0])" }.joined(separator: " ")
    }
}

public struct HandlerChoiceError: Error, Sendable, Hashable, CustomStringConvertible {
    public var source: String
    public var word: String
    public var problem: String

    public var description: String { "\(source) '\(TerminalText.escaped(word))': \(TerminalText.escaped(problem))" }
}
