import Foundation

/// Why a rules file cannot be used: every problem found, each with the file, the line and the field.
public struct InspectionRulesError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// nil when the problem is the file as a whole (missing, too large).
        public var line: Int?
        /// The field's path: `facilities["Frigate Resolute"].max_weight_grams`; nil for syntax.
        public var field: String?
        public var message: String

        public init(line: Int?, field: String?, message: String) {
            self.line = line
            self.field = field
            self.message = message
        }

        /// `LINE: FIELD: MESSAGE`, without the parts it has not.
        public var description: String {
            (line.map { "\($0): " } ?? "") + (field.map { $0.isEmpty ? "" : "\($0): " } ?? "") + message
        }

        /// `FILE:LINE: FIELD: MESSAGE`, or `FILE: MESSAGE` for the file as a whole.
        func located(in file: String) -> String {
            line == nil ? "\(file): \(self)" : "\(file):\(self)"
        }
    }

    /// The path as ops gave it.
    public var file: String
    public var problems: [Problem]
    /// Problems found beyond those kept (``InspectionRules/maxProblems``).
    public var more: Int

    public init(file: String, problems: [Problem], more: Int = 0) {
        self.file = file
        self.problems = problems
        self.more = more
    }

    /// One line per problem, `FILE:LINE: FIELD: MESSAGE`, escaped for a terminal.
    public var description: String {
        var lines = problems.map { $0.located(in: file) }
        if more > 0 { lines.append("\(file): and \(more) more problem(s)") }
        return TerminalText.escapedLines(lines.map { $0.replacingOccurrences(of: "\n", with: "\\n") }.joined(separator: "\n"))
    }
}

extension InspectionRules {
    /// The largest rules file read: checked against the file's size before anything is read.
    public static let maxFileBytes = 1 << 20
    /// Nesting in the file at most; the format itself needs four levels.
    public static let maxDepth = 16
    /// Blocked items in one section at most.
    public static let maxBlockedItems = 1_000
    /// Problems reported at most; the rest are counted.
    public static let maxProblems = 20

    fileprivate static let topFields = ["schema_version", "description", "defaults", "facilities", "origins"]
    fileprivate static let limitFields = ["max_weight_grams", "max_letters", "max_drawings", "accepts_drawings", "blocked_items"]

    /// Reads and checks the rules file at `path` (at most ``maxFileBytes``); every problem is in the error.
    public static func load(path: String) throws(InspectionRulesError) -> InspectionRules {
        let bytes: [UInt8]
        do {
            bytes = try readBounded(path)
        } catch {
            throw InspectionRulesError(file: path, problems: [.init(line: nil, field: nil, message: error.reason)])
        }
        return try parse(bytes, file: path)
    }

    /// Checks a rules file's text; `file` names it in errors.
    public static func parse(_ bytes: [UInt8], file: String) throws(InspectionRulesError) -> InspectionRules {
        let document: LocatedJSON
        do {
            document = try LocatedJSON.parse(bytes, maxDepth: maxDepth)
        } catch {
            let column = error.column.map { " (column \($0))" } ?? ""
            throw InspectionRulesError(file: file, problems: [.init(line: error.line, field: nil,
                                                                   message: "not valid JSON: \(error.message)\(column)")])
        }
        var reader = RulesReader()
        var rules = InspectionRules()
        if let root = reader.members(document, "", allowed: topFields, what: "the rules") {
            let byKey = Dictionary(root.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            if let version = byKey["schema_version"] {
                if version.value.value != .integer(Int64(schemaVersion)) {
                    reader.fail(version.value.line, "schema_version",
                                "\(version.value.summary) is not supported (this program reads version \(schemaVersion))")
                }
            } else {
                reader.fail(document.line, "schema_version", "is missing (write \"schema_version\": \(schemaVersion))")
            }
            if let description = byKey["description"]?.value {
                if case .string = description.value {} else {
                    reader.fail(description.line, "description", "expected a string, got \(description.summary)")
                }
            }
            if let defaults = byKey["defaults"] { rules.defaults = reader.limits(defaults.value, "defaults") }
            if let facilities = byKey["facilities"] {
                rules.facilities = reader.sections(facilities.value, "facilities", what: "facility")
            }
            if let origins = byKey["origins"] { rules.origins = reader.sections(origins.value, "origins", what: "origin") }
        }
        guard reader.problems.isEmpty else {
            let sorted = reader.problems.enumerated().sorted { ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset) }
                .map(\.element)
            throw InspectionRulesError(file: file, problems: Array(sorted.prefix(maxProblems)),
                                       more: max(0, sorted.count - maxProblems))
        }
        return rules
    }

    /// The file's bytes, never more than ``maxFileBytes`` + 1 of them: a larger regular file is
    /// refused by its size before it is read, a pipe or a growing file once past the limit.
    private static func readBounded(_ path: String) throws(SubmissionFileError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SubmissionFileError("cannot open it: \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw SubmissionFileError(String(cString: strerror(errno))) }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR { throw SubmissionFileError("it is a folder, not a file") }
        let limit = "over the limit of \(NumberText.integer(maxFileBytes)) bytes for a rules file"
        if kind == S_IFREG, info.st_size > maxFileBytes {
            throw SubmissionFileError("the file is \(NumberText.integer(Int(clamping: info.st_size))) bytes, \(limit)")
        }
        let data: Data
        do {
            data = try handle.read(upToCount: maxFileBytes + 1) ?? Data()
        } catch {
            throw SubmissionFileError("cannot read it: \((error as NSError).localizedDescription)")
        }
        if data.count > maxFileBytes { throw SubmissionFileError("the file is larger than that, \(limit)") }
        return Array(data)
    }
}

/// Checks a rules file's JSON tree field by field, collecting every problem with its line.
private struct RulesReader {
    var problems: [InspectionRulesError.Problem] = []

    mutating func fail(_ line: Int, _ field: String, _ message: String) {
        problems.append(.init(line: line, field: field, message: message))
    }

    /// An object's members, with every key not in `allowed` reported on its own line.
    mutating func members(_ value: LocatedJSON, _ path: String, allowed: [String], what: String) -> [LocatedJSON.Member]? {
        guard case .object(let members) = value.value else {
            fail(value.line, path, "expected an object (\(what)), got \(value.summary)")
            return nil
        }
        for member in members where !allowed.contains(member.key) {
            let field = path.isEmpty ? Echo.value(member.key) : "\(path).\(Echo.value(member.key))"
            fail(member.line, field, "is not a known field (known: \(allowed.joined(separator: ", ")))")
        }
        return members.filter { allowed.contains($0.key) }
    }

    /// `facilities` or `origins`: names to sections, each name once however it is capitalised or spaced.
    mutating func sections(_ value: LocatedJSON, _ path: String, what: String) -> [String: InspectionRules.Section] {
        guard case .object(let members) = value.value else {
            fail(value.line, path, "expected an object of \(what) names to their rules, got \(value.summary)")
            return [:]
        }
        var sections: [String: InspectionRules.Section] = [:]
        var lines: [String: (line: Int, path: String)] = [:]
        for member in members {
            let sectionPath = InspectionRules.path(path, member.key)
            var issues: [ParcelValidationIssue] = []
            Parcel.checkText(member.key, sectionPath, &issues)
            for issue in issues { fail(member.line, issue.field, "the \(what) name \(issue.message)") }
            let key = InspectionRules.matchKey(member.key)
            if let first = lines[key] {
                fail(member.line, sectionPath, "is the same \(what) as \(first.path) on line \(first.line) "
                    + "(names match ignoring case and spaces): merge the two")
                continue
            }
            lines[key] = (member.line, sectionPath)
            sections[key] = InspectionRules.Section(path: sectionPath, limits: limits(member.value, sectionPath))
        }
        return sections
    }

    /// One section's rules.
    mutating func limits(_ value: LocatedJSON, _ path: String) -> InspectionRules.Limits {
        var limits = InspectionRules.Limits()
        guard let members = self.members(value, path, allowed: InspectionRules.limitFields, what: "rules") else { return limits }
        for member in members {
            let field = "\(path).\(member.key)"
            let value = member.value
            switch member.key {
            case "max_weight_grams": limits.maxWeightGrams = whole(value, field, 1...Parcel.maxWeightGrams)
            case "max_letters": limits.maxLetters = whole(value, field, 0...Parcel.maxItems)
            case "max_drawings": limits.maxDrawings = whole(value, field, 0...Parcel.maxItems)
            case "accepts_drawings":
                guard case .bool(let accepts) = value.value else {
                    fail(value.line, field, "must be true or false (got \(value.summary))")
                    continue
                }
                limits.acceptsDrawings = accepts
            default: limits.blockedItems = items(value, field)
            }
        }
        return limits
    }

    mutating func whole(_ value: LocatedJSON, _ field: String, _ range: ClosedRange<Int>) -> Int? {
        if case .integer(let number) = value.value, let int = Int(exactly: number), range.contains(int) { return int }
        fail(value.line, field, "must be a whole number from \(range.lowerBound) to \(range.upperBound) (got \(value.summary))")
        return nil
    }

    mutating func items(_ value: LocatedJSON, _ field: String) -> [String] {
        guard case .array(let elements) = value.value else {
            fail(value.line, field, "expected an array of item names, got \(value.summary)")
            return []
        }
        guard elements.count <= InspectionRules.maxBlockedItems else {
            fail(value.line, field, "lists \(elements.count) items, at most \(InspectionRules.maxBlockedItems)")
            return []
        }
        var items: [String] = []
        for (index, element) in elements.enumerated() {
            let path = "\(field)[\(index)]"
            guard case .string(let item) = element.value else {
                fail(element.line, path, "expected an item name (a string), got \(element.summary)")
                continue
            }
            var issues: [ParcelValidationIssue] = []
            Parcel.checkText(item, path, &issues, maxLength: Parcel.maxItemLength)
            for issue in issues { fail(element.line, issue.field, "an item name \(issue.message)") }
            items.append(item)
        }
        return items
    }
}
