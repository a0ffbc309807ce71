/// Plausible parcels for demos and load tests, the same for the same seed.
public struct ParcelGenerator: Sendable {
    public var seed: UInt64
    public var idPrefix: String

    public init(seed: UInt64 = 2026, idPrefix: String = "DEC") {
        self.seed = seed
        self.idPrefix = idPrefix
    }

    private static let givenNames = ["Amina", "Yusuf", "Maria", "Jonas", "Leila", "Tomás", "Aiko", "Kwame", "Sofia", "Ravi",
                                     "Olena", "Mateo", "Zoë", "Ibrahim", "Hana", "Lukas", "Noor", "Santiago", "Ines", "Dmitri"]
    private static let familyNames = ["Haddad", "Okafor", "Silva", "Nguyễn", "Kowalski", "Müller", "Tanaka", "Mensah",
                                      "García", "Iyer", "Petrenko", "O'Brien", "Rossi", "Said", "Larsen"]
    private static let facilities = ["Camp North, Tent 4", "Ward 3, St. Mary's", "Station Halley VI", "Base Alpha, Block C",
                                     "Field Hospital 2", "Research Vessel Polar Star", "Outpost 17", "Garrison East"]
    private static let origins = ["depot-north", "depot-south", "depot-east", "depot-west", "school-drop-7"]

    /// `count` parcels with ids `<prefix>-000001` on.
    public func parcels(_ count: Int) -> [Parcel] {
        var random = SplitMix64(seed: seed)
        return (1..<max(count, 0) + 1).map { index in
            func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
            let family = pick(Self.familyNames)
            let letters = Int(random.next() % 4)
            let drawings = letters == 0 ? 1 + Int(random.next() % 3) : Int(random.next() % 3)
            return Parcel(
                id: "\(idPrefix)-\(String(index).leftPadded(6))",
                sender: .init(name: "\(pick(Self.givenNames)) \(family)", relation: pick(Relation.allCases)),
                recipient: .init(name: "\(pick(Self.givenNames)) \(family)", facility: pick(Self.facilities)),
                contents: .init(letters: letters, drawings: drawings),
                weightGrams: 20 * (letters + drawings) + Int(random.next() % 200) + 10,
                origin: pick(Self.origins))
        }
    }

    /// The parcels as a CSV submission file.
    public static func csv(_ parcels: [Parcel]) -> String {
        func field(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
                ? "\"" + text.replacingAll("\"", with: "\"\"") + "\"" : text
        }
        // The optional items column only when some parcel declares items.
        let items = parcels.contains { !$0.contents.items.isEmpty }
        var lines = [(ParcelParsing.csvColumns + (items ? ["items"] : [])).joined(separator: ",")]
        for p in parcels {
            lines.append(([p.id, p.sender.name, p.sender.relation.rawValue, p.recipient.name, p.recipient.facility,
                           "\(p.contents.letters)", "\(p.contents.drawings)", "\(p.weightGrams)", p.origin]
                          + (items ? [p.contents.items.joined(separator: String(ParcelParsing.csvItemSeparator))] : []))
                .map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The parcels as a JSON Lines submission file.
    public static func jsonLines(_ parcels: [Parcel]) -> String {
        parcels.map { TaskEnvelope.encode($0) }.joined(separator: "\n") + "\n"
    }
}

/// A small, fast, seedable generator (SplitMix64), so generated files are reproducible.
public struct SplitMix64: Sendable {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }

    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
