/// The four stages every parcel passes, in order.
public enum Stage: String, CaseIterable, Sendable, Comparable, CustomStringConvertible {
    case collection, packaging, inspection, delivery

    /// 0 for collection … 3 for delivery.
    public var index: Int { Stage.allCases.firstIndex(of: self)! }

    /// The stage after this one, nil after delivery.
    public var next: Stage? { index + 1 < Stage.allCases.count ? Stage.allCases[index + 1] : nil }

    public var description: String { rawValue }

    public static func < (lhs: Stage, rhs: Stage) -> Bool { lhs.index < rhs.index }
}
