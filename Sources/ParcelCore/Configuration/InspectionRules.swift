/// What inspection lets through: weight and content limits, drawings refused, items blocked — for
/// every parcel, per recipient facility and per origin. Read from a JSON file
/// (`schemas/inspection-rules.v1.schema.json`, ``load(path:)``) and checked by the inspection rules
/// handler.
///
/// Precedence: every section that matches a parcel applies — `defaults` to every parcel, a facility's
/// section to parcels for that facility, an origin's to parcels from that origin — and the parcel
/// must pass them all. So the strictest limit wins, a facility can tighten a default but never
/// loosen it, and the blocked items add up. Facility, origin and item names match ignoring case and
/// runs of whitespace ("frigate  resolute" is "Frigate Resolute"); an item is blocked when a declared
/// item is the blocked name, not when it merely contains it.
public struct InspectionRules: Sendable, Hashable {
    public static let schemaVersion = 1

    /// One section's rules; a rule left out does not apply.
    public struct Limits: Sendable, Hashable {
        public var maxWeightGrams: Int?
        public var maxLetters: Int?
        public var maxDrawings: Int?
        public var acceptsDrawings: Bool?
        /// As written in the file; matched by ``InspectionRules/matchKey(_:)``.
        public var blockedItems: [String] { didSet { blockedKeys = blockedItems.map(InspectionRules.matchKey) } }
        /// ``blockedItems`` as they are matched, made once rather than per parcel.
        private(set) var blockedKeys: [String]

        public init(maxWeightGrams: Int? = nil, maxLetters: Int? = nil, maxDrawings: Int? = nil,
                    acceptsDrawings: Bool? = nil, blockedItems: [String] = []) {
            self.maxWeightGrams = maxWeightGrams
            self.maxLetters = maxLetters
            self.maxDrawings = maxDrawings
            self.acceptsDrawings = acceptsDrawings
            self.blockedItems = blockedItems
            self.blockedKeys = blockedItems.map(InspectionRules.matchKey)
        }
    }

    /// A section of the file: its rules and the path a violation names (`facilities["Frigate Resolute"]`).
    public struct Section: Sendable, Hashable {
        public var path: String
        public var limits: Limits

        public init(path: String, limits: Limits) {
            self.path = path
            self.limits = limits
        }
    }

    public var defaults: Limits
    /// By ``matchKey(_:)`` of the facility's name.
    public var facilities: [String: Section]
    /// By ``matchKey(_:)`` of the origin.
    public var origins: [String: Section]

    public init(defaults: Limits = Limits(), facilities: [String: Limits] = [:], origins: [String: Limits] = [:]) {
        self.defaults = defaults
        self.facilities = [:]
        self.origins = [:]
        for (name, limits) in facilities { self.facilities[Self.matchKey(name)] = Section(path: Self.path("facilities", name), limits: limits) }
        for (name, limits) in origins { self.origins[Self.matchKey(name)] = Section(path: Self.path("origins", name), limits: limits) }
    }

    /// A name as rules compare it: lowercase, whitespace trimmed and each run of it one space.
    public static func matchKey(_ name: String) -> String {
        name.split(whereSeparator: \.isWhitespace).joined(separator: " ").lowercased()
    }

    /// `facilities["Frigate Resolute"]`: a map entry's path as errors and reasons name it, the key
    /// written as a JSON string (cut as echoed text is).
    static func path(_ map: String, _ key: String) -> String {
        var out = JSONWriter()
        out.string(Echo.value(key))
        return "\(map)[\(String(decoding: out.bytes, as: UTF8.self))]"
    }

    /// The sections that apply to `parcel`, in the order they are checked.
    public func sections(for parcel: Parcel) -> [Section] {
        var sections = [Section(path: "defaults", limits: defaults)]
        if let facility = facilities[Self.matchKey(parcel.recipient.facility)] { sections.append(facility) }
        if let origin = origins[Self.matchKey(parcel.origin)] { sections.append(origin) }
        return sections
    }

    /// Every rule `parcel` breaks, in the order of ``sections(for:)`` and, within one, of the file's fields.
    public func violations(of parcel: Parcel) -> [InspectionViolation] {
        var violations: [InspectionViolation] = []
        let declared = parcel.contents.items.map { (item: $0, key: Self.matchKey($0)) }
        for section in sections(for: parcel) {
            let limits = section.limits
            func broke(_ field: String, _ message: String) {
                violations.append(InspectionViolation(rule: "\(section.path).\(field)", message: message))
            }
            let scope = section.path.hasPrefix("facilities") ? "the facility" : section.path.hasPrefix("origins") ? "this origin" : "inspection"
            if let max = limits.maxWeightGrams, parcel.weightGrams > max {
                broke("max_weight_grams", "the parcel weighs \(parcel.weightGrams) g, over the limit of \(max) g")
            }
            if let max = limits.maxLetters, parcel.contents.letters > max {
                broke("max_letters", "the parcel holds \(parcel.contents.letters) letters, over the limit of \(max)")
            }
            if limits.acceptsDrawings == false, parcel.contents.drawings > 0 {
                let who = scope == "this origin" ? "drawings are not accepted from this origin" : "\(scope) accepts no drawings"
                broke("accepts_drawings", "\(who) (\(parcel.contents.drawings) declared)")
            } else if let max = limits.maxDrawings, parcel.contents.drawings > max {
                broke("max_drawings", "the parcel holds \(parcel.contents.drawings) drawings, over the limit of \(max)")
            }
            for (index, key) in limits.blockedKeys.enumerated() {
                for entry in declared where entry.key == key {
                    broke("blocked_items[\(index)]", "the declared item \(Echo.quoted(entry.item)) is blocked")
                    break
                }
            }
        }
        return violations
    }
}

/// One rule a parcel breaks: the rule's path in the rules file, and what about the parcel breaks it.
public struct InspectionViolation: Sendable, Hashable, CustomStringConvertible {
    /// `facilities["Frigate Resolute"].accepts_drawings`.
    public var rule: String
    public var message: String

    public init(rule: String, message: String) {
        self.rule = rule
        self.message = message
    }

    public var description: String { "rule \(rule): \(message)" }

    /// The violations named in a hold's reason.
    public static let maxNamed = 5

    /// A hold's reason naming the violations: the first ``maxNamed`` of them, how many more, cut to a
    /// reason's length (``Echo/reason(_:)``).
    public static func reason(_ violations: [InspectionViolation]) -> String {
        var text = violations.prefix(maxNamed).map(\.description).joined(separator: "; ")
        if violations.count > maxNamed { text += "; and \(violations.count - maxNamed) more" }
        return Echo.reason(text)
    }
}
