import ParcelCore

/// A parcel with every field set, and text that needs escaping (quotes, a dash, an emoji).
public let sampleParcel = Parcel(
    id: "P-2026-000001", sender: .init(name: "Amina \"Mama\" Haddad", relation: .mother),
    recipient: .init(name: "Yusuf Haddad", facility: "Ward 3, St. Mary's — North wing 🏥"),
    contents: .init(letters: 2, drawings: 1), weightGrams: 120, origin: "depot-north")
