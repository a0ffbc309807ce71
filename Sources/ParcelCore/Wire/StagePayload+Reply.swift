import Foundation

extension StagePayload {
    /// This payload with the fields a stage's outside service answered with: `data` is empty (nothing
    /// to add) or a JSON object whose members are payload fields that `stage` records, read as the
    /// thorough reader reads a task's payload.
    ///
    /// A service answers for its own stage only: a key that is no payload field, a field another stage
    /// records (a misbehaving service must not forge another stage's record), or a value of the wrong
    /// kind is refused, with a reason that names each such field. The caller bounds `data`'s size.
    public func adding(answeredFor stage: Stage, json data: Data) -> Result<StagePayload, TaskRejection> {
        guard data.contains(where: { !Self.isJSONWhitespace($0) }) else { return .success(self) }
        guard let value = JSONValue.parse(data) else {
            return .failure(TaskRejection("the answer is not JSON: an object of \(stage)'s payload fields was expected"))
        }
        guard case .object(let object) = value else {
            return .failure(TaskRejection("the answer is \(value.summary), not an object of \(stage)'s payload fields"))
        }
        var reader = JSONFieldReader()
        var payload = self
        for key in object.keys.sorted() {
            let path = "payload.\(Echo.value(key))"
            guard let field = Self.fields.first(where: { $0.name == key }) else {
                reader.fail(path, "is not a payload field")
                continue
            }
            guard field.recordedBy == stage else {
                reader.fail(path, "is recorded by \(field.recordedBy), not by \(stage)")
                continue
            }
            field.read(object, into: &payload, &reader)
        }
        guard reader.issues.isEmpty else {
            return .failure(TaskRejection(reader.issues.map(\.description).joined(separator: "; ")))
        }
        return .success(payload)
    }

    /// The payload fields `stage` records, by JSON key.
    public static func keys(recordedBy stage: Stage) -> [String] {
        fields.filter { $0.recordedBy == stage }.map(\.name)
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}
