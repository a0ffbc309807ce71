/// A parcel as warehouse staff submit it: who sends it to whom, what is inside, and where it starts.
///
/// The names are personal data: they travel in the task and sit in the status store, but never
/// appear in logs or metric labels.
public struct Parcel: Sendable, Hashable {
    /// Given by staff, unique: letters, digits, '.', '_' and '-', at most 64 characters.
    public var id: String
    public var sender: Sender
    public var recipient: Recipient
    public var contents: Contents
    public var weightGrams: Int
    /// The depot or collection point the parcel starts from.
    public var origin: String

    public init(id: String, sender: Sender, recipient: Recipient, contents: Contents, weightGrams: Int, origin: String) {
        self.id = id
        self.sender = sender
        self.recipient = recipient
        self.contents = contents
        self.weightGrams = weightGrams
        self.origin = origin
    }

    public struct Sender: Sendable, Hashable {
        public var name: String
        /// How the sender is related to the recipient.
        public var relation: Relation

        public init(name: String, relation: Relation) {
            self.name = name
            self.relation = relation
        }
    }

    public struct Recipient: Sendable, Hashable {
        public var name: String
        /// Where the recipient is: a base, a ward, a station.
        public var facility: String

        public init(name: String, facility: String) {
            self.name = name
            self.facility = facility
        }
    }

    public struct Contents: Sendable, Hashable {
        public var letters: Int
        public var drawings: Int
        /// What else the sender declares is inside ("chocolate", "photo"), as written; usually none.
        /// The inspection rules look for blocked items here.
        public var items: [String]

        public init(letters: Int, drawings: Int, items: [String] = []) {
            self.letters = letters
            self.drawings = drawings
            self.items = items
        }
    }
}

/// The sender's relation to the recipient.
public enum Relation: String, Sendable, CaseIterable {
    case wife, husband, partner, mother, father, child, son, daughter, sister, brother
    case grandmother, grandfather, grandchild, aunt, uncle, cousin, friend
}
