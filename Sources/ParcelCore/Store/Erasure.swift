import Foundation

/// What ``StatusStore/erase(_:at:)`` did to one parcel.
public enum Erasure: Sendable, Hashable {
    /// Its personal data is gone now.
    case erased
    /// It was erased before, at this time; nothing changed.
    case alreadyErased(Date)
    /// Still on its way (it needs its recipient); nothing changed. Erase it once it is final.
    case notFinal(ParcelStatus)
    /// The store has no parcel with that id.
    case unknown
}

extension Erasure {
    /// What replaces an erased reason or error, in the parcel's record and in its history: the fact
    /// that there was one stays, its words (which may quote a name or a facility) go.
    public static let erasedText = "(erased)"

    /// A reason or error as it reads after erasure: ``erasedText`` where there was one.
    public static func erased(_ text: String?) -> String? { text == nil ? nil : erasedText }
}
