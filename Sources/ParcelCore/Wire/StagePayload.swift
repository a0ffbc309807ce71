import Foundation

/// What the stages before a task's stage recorded; each stage's schema says which fields it requires.
///
/// Each field is a stored property here and an entry in ``fields``, the one declaration of the
/// payload's wire format: the encoder, the fast scanner, the thorough reader, the check that a task
/// carries what its stage needs, and the stand-ins a worker rebuilds from a task all walk that list.
/// A new field is its property, its entry, and its place in `schemas/stage-payloads.v1.schema.json`
/// (among the properties, and in the `required` list of every stage after the one that records it);
/// `PayloadFieldsTests` fails until the three agree.
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

    /// The payload's fields on the wire, in the order a task carries them: the JSON key, the property,
    /// the stage that records the field, and the stand-in a worker rebuilds from the task when the
    /// stage's own output is gone (a time's stand-in is when it was recorded).
    static let fields: [PayloadField] = [
        .timestamp("collected_at", \.collectedAt, recordedBy: .collection),
        .text("collection_point", \.collectionPoint, recordedBy: .collection, standIn: { task, _ in task.parcel.origin }),
        .timestamp("packed_at", \.packedAt, recordedBy: .packaging),
        .choice("box", \.box, recordedBy: .packaging, standIn: .smallBox),
        .timestamp("inspected_at", \.inspectedAt, recordedBy: .inspection),
    ]

    /// Every payload key, for the thorough reader's check for unknown fields.
    static let keys: Set<String> = Set(fields.map(\.name))

    /// The JSON keys a task for `stage` must carry: everything the stages before it record.
    public static func requiredKeys(for stage: Stage) -> [String] {
        fields.filter { $0.recordedBy < stage }.map(\.name)
    }

    /// The fields a task for `stage` must carry as bits, bit `i` for `fields[i]` (for the scanner).
    static func requiredFieldBits(at stage: Stage) -> UInt64 { requiredBits[stage.index] }

    private static let requiredBits: [UInt64] = {
        precondition(fields.count <= UInt64.bitWidth, "the scanner keeps one bit per payload field")
        return Stage.allCases.map { stage in
            fields.indices.reduce(0) { bits, index in fields[index].recordedBy < stage ? bits | 1 << index : bits }
        }
    }()

    /// Whether the payload has every field a task for `stage` must carry.
    func carriesEverythingRequired(at stage: Stage) -> Bool {
        let index = stage.index
        for field in Self.fields where field.isRequired(atStageIndex: index) && !field.isPresent(in: self) { return false }
        return true
    }

    /// This payload with every field `stage` records that it lacks set to its stand-in, rebuilt from
    /// `task`, with `time` as the time of recording.
    public func fillingIn(recordedBy stage: Stage, from task: TaskEnvelope, at time: Date) -> StagePayload {
        var payload = self
        for field in Self.fields where field.recordedBy == stage { field.fill(&payload, from: task, at: time) }
        return payload
    }
}
