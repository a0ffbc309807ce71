import Foundation
@testable import ParcelCore
import ParcelTestSupport
import Testing

/// The inspection rules as a value: each rule, and which sections apply (every matching one: the
/// strictest limit wins).
@Suite("Inspection rules")
struct InspectionRulesTests {
    /// A parcel for `facility` from `origin`; sampleParcel's letters (2), drawings (1) and weight (120 g).
    func parcel(facility: String = "Frigate Resolute", origin: String = "depot-north", weight: Int = 120,
                letters: Int = 2, drawings: Int = 1, items: [String] = []) -> Parcel {
        var parcel = sampleParcel
        parcel.recipient.facility = facility
        parcel.origin = origin
        parcel.weightGrams = weight
        parcel.contents = .init(letters: letters, drawings: drawings, items: items)
        return parcel
    }

    func broken(_ rules: InspectionRules, _ parcel: Parcel) -> [String] {
        rules.violations(of: parcel).map(\.description)
    }

    @Test("each rule: weight, letters, drawings, no drawings, blocked items")
    func eachRule() {
        let rules = InspectionRules(facilities: ["Frigate Resolute": .init(
            maxWeightGrams: 2000, maxLetters: 20, maxDrawings: 5, acceptsDrawings: nil, blockedItems: ["batteries", "Lighter"])])
        #expect(broken(rules, parcel()) == [])
        #expect(broken(rules, parcel(weight: 2000, letters: 20, drawings: 5)) == [], "a limit is the most let through")
        #expect(broken(rules, parcel(weight: 2001)) == [
            #"rule facilities["Frigate Resolute"].max_weight_grams: the parcel weighs 2001 g, over the limit of 2000 g"#])
        #expect(broken(rules, parcel(letters: 21)) == [
            #"rule facilities["Frigate Resolute"].max_letters: the parcel holds 21 letters, over the limit of 20"#])
        #expect(broken(rules, parcel(drawings: 6)) == [
            #"rule facilities["Frigate Resolute"].max_drawings: the parcel holds 6 drawings, over the limit of 5"#])
        #expect(broken(rules, parcel(items: ["chocolate", "BATTERIES", " lighter "])) == [
            #"rule facilities["Frigate Resolute"].blocked_items[0]: the declared item 'BATTERIES' is blocked"#,
            #"rule facilities["Frigate Resolute"].blocked_items[1]: the declared item ' lighter ' is blocked"#,
        ])
        // Whole names only: "lighter fluid" is not "lighter" (ops list each name they mean).
        #expect(broken(rules, parcel(items: ["lighter fluid", "battery"])) == [])

        let noDrawings = InspectionRules(facilities: ["Frigate Resolute": .init(maxDrawings: 5, acceptsDrawings: false)])
        #expect(broken(noDrawings, parcel(drawings: 3)) == [
            #"rule facilities["Frigate Resolute"].accepts_drawings: the facility accepts no drawings (3 declared)"#])
        #expect(broken(noDrawings, parcel(drawings: 0)) == [])
        #expect(broken(InspectionRules(facilities: ["Frigate Resolute": .init(acceptsDrawings: true)]), parcel(drawings: 1000)) == [])
    }

    @Test("every matching section applies: defaults, the facility's, the origin's; the strictest limit wins, blocked items add up")
    func precedence() {
        let rules = InspectionRules(
            defaults: .init(maxWeightGrams: 20000, acceptsDrawings: true, blockedItems: ["batteries"]),
            facilities: ["Frigate Resolute": .init(maxWeightGrams: 2000, acceptsDrawings: false),
                         "Camp Bastion": .init(maxWeightGrams: 25000, blockedItems: ["knife"])],
            origins: ["school-drop-7": .init(maxWeightGrams: 1000, blockedItems: ["glitter"])])
        // The facility is stricter than the default.
        #expect(broken(rules, parcel(weight: 2500, drawings: 0)) == [
            #"rule facilities["Frigate Resolute"].max_weight_grams: the parcel weighs 2500 g, over the limit of 2000 g"#])
        // A facility cannot loosen a default: 22 kg for Camp Bastion still breaks the default's 20 kg.
        #expect(broken(rules, parcel(facility: "Camp Bastion", weight: 22000)) == [
            "rule defaults.max_weight_grams: the parcel weighs 22000 g, over the limit of 20000 g"])
        // A default's "true" does not loosen a facility's "false".
        #expect(broken(rules, parcel(drawings: 2)).contains(
            #"rule facilities["Frigate Resolute"].accepts_drawings: the facility accepts no drawings (2 declared)"#))
        // The origin applies together with the facility; each broken rule is named.
        #expect(broken(rules, parcel(facility: "Camp Bastion", origin: "school-drop-7", weight: 1500,
                                     items: ["Glitter", "knife", "batteries"])) == [
            "rule defaults.blocked_items[0]: the declared item 'batteries' is blocked",
            #"rule facilities["Camp Bastion"].blocked_items[0]: the declared item 'knife' is blocked"#,
            #"rule origins["school-drop-7"].max_weight_grams: the parcel weighs 1500 g, over the limit of 1000 g"#,
            #"rule origins["school-drop-7"].blocked_items[0]: the declared item 'Glitter' is blocked"#,
        ])
        // Facilities and origins match ignoring case and runs of spaces; other facilities get the defaults only.
        #expect(rules.sections(for: parcel(facility: "  frigate   RESOLUTE ", origin: "School-Drop-7")).map(\.path)
            == ["defaults", #"facilities["Frigate Resolute"]"#, #"origins["school-drop-7"]"#])
        #expect(rules.sections(for: parcel(facility: "Frigate Resolute II")).map(\.path) == ["defaults"])
        #expect(broken(rules, parcel(facility: "Outpost 17", weight: 19000, drawings: 4)) == [])
    }

    @Test("a hold's reason names at most five rules, counts the rest, and stays within a reason's length")
    func reasonIsBounded() {
        let many = (0..<30).map { "item-\($0)" }
        let rules = InspectionRules(defaults: .init(maxWeightGrams: 1, maxLetters: 0, blockedItems: many))
        let violations = rules.violations(of: parcel(items: Array(many.prefix(20))))
        #expect(violations.count == 22)
        let reason = InspectionViolation.reason(violations)
        #expect(reason.hasPrefix("rule defaults.max_weight_grams: the parcel weighs 120 g, over the limit of 1 g; rule defaults.max_letters:"))
        #expect(reason.hasSuffix("; and 17 more"))
        #expect(reason.components(separatedBy: "rule ").count - 1 == InspectionViolation.maxNamed)
        // Long declared items are cut where they are echoed, and the whole reason to its limit.
        let long = String(repeating: "x", count: 60)
        let longRules = InspectionRules(facilities: [String(repeating: "F", count: 120): .init(blockedItems: [long])])
        let longReason = InspectionViolation.reason(longRules.violations(of: parcel(facility: String(repeating: "F", count: 120),
                                                                                    items: [long])))
        #expect(longReason.contains("…(56 more bytes)"))
        #expect(longReason.utf8.count <= Echo.maxReasonBytes)
    }
}
