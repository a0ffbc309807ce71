import Foundation

/// What the stages before a task's stage recorded; each stage's schema says which fields it requires.
public struct StagePayload: Sendable, Hashable {
    public enum Box: String, Sendable, CaseIterable {
        case envelope
        case smallBox = "small_box"
        case largeBox = "large_box"
    }

    public var collectedAt: Date?
    public var collectionPoint: String?
    public var packedAt: Date?
    public var box: Box?
    public var inspectedAt: Date?

    public init(collectedAt: Date? = nil, collectionPoint: String? = nil, packedAt: Date? = nil, box: Box? = nil,
                inspectedAt: Date? = nil) {
        self.collectedAt = collectedAt
        self.collectionPoint = collectionPoint
        self.packedAt = packedAt
        self.box = box
        self.inspectedAt = inspectedAt
    }

    /// The JSON keys a task for `stage` must carry: everything the stages before it record.
    public static func requiredKeys(for stage: Stage) -> [String] {
        switch stage {
        case .collection: []
        case .packaging: ["collected_at", "collection_point"]
        case .inspection: ["collected_at", "collection_point", "packed_at", "box"]
        case .delivery: ["collected_at", "collection_point", "packed_at", "box", "inspected_at"]
        }
    }

    static let keys: Set<String> = ["collected_at", "collection_point", "packed_at", "box", "inspected_at"]
}
