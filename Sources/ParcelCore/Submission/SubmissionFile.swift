import Foundation

/// A file of parcels to submit: CSV with a header (columns ``ParcelParsing/csvColumns``, and
/// optionally ``ParcelParsing/csvOptionalColumns``) or JSON
/// Lines (one parcel object per line, `schemas/parcel.v1.schema.json`).
public enum SubmissionFormat: String, Sendable, CaseIterable {
    case csv
    case jsonl

    /// The format a file name's extension implies: `.csv`, or `.jsonl`/`.ndjson`.
    public init?(path: String) {
        switch (path as NSString).pathExtension.lowercased() {
        case "csv": self = .csv
        case "jsonl", "ndjson": self = .jsonl
        default: return nil
        }
    }
}

/// One thing wrong in a submission file, with the line it starts on.
public struct SubmissionProblem: Sendable, Hashable, CustomStringConvertible {
    public let line: Int
    /// The column or JSON field, when the problem is in one.
    public let field: String?
    public let message: String

    public init(line: Int, field: String?, message: String) {
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String { "line \(line): " + (field.map { "\($0): " } ?? "") + message }
}

/// Everything read from a submission file: the valid parcels with their lines, and every problem.
public struct SubmissionReadout: Sendable {
    public var parcels: [(line: Int, parcel: Parcel)] = []
    public var problems: [SubmissionProblem] = []
    /// Records read (lines for JSON Lines, data rows for CSV), blank lines not counted.
    public var records = 0

    /// Lines with at least one problem.
    public var invalidLines: Set<Int> { Set(problems.map(\.line)) }
}

/// How much of a submission file is read at most: a December's 2,000 parcels are about 300 KB.
public enum SubmissionLimits {
    /// The whole file (`parcelctl submit --max-file-size`).
    public static let defaultMaxFileBytes = 64 << 20
    /// One line of JSON Lines, or one CSV record (a quoted field may hold line breaks).
    public static let maxLineBytes = 64 << 10
}

/// Why a submission file could not be read; says what, not where (the caller names the file).
public struct SubmissionFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}

public enum SubmissionReader {
    /// The file's bytes, read once and never more than `maxBytes` of them: a larger regular file is
    /// refused by its size before anything is read, and a pipe or a file that grows while it is read
    /// is cut off at `maxBytes + 1` and refused too.
    public static func load(path: String, maxBytes: Int = SubmissionLimits.defaultMaxFileBytes) throws(SubmissionFileError) -> Data {
        let maxBytes = min(max(0, maxBytes), Int.max - 1) // so that one byte more is still an Int
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SubmissionFileError(String(cString: strerror(errno))) }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw SubmissionFileError(String(cString: strerror(errno))) }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR { throw SubmissionFileError("it is a folder, not a file") }
        if kind == S_IFREG, info.st_size > maxBytes { throw tooLarge(Int(clamping: info.st_size), maxBytes) }
        let data: Data
        do {
            data = try handle.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            throw SubmissionFileError((error as NSError).localizedDescription)
        }
        if data.count > maxBytes { throw tooLarge(nil, maxBytes) }
        return data
    }

    private static func tooLarge(_ size: Int?, _ limit: Int) -> SubmissionFileError {
        SubmissionFileError("the file is " + (size.map { "\(NumberText.integer($0)) bytes" } ?? "larger than that")
            + ", over the limit of \(NumberText.integer(limit)) bytes (--max-file-size); split it into smaller files")
    }

    /// Reads and checks the whole file. Nothing is skipped silently: each bad line, a duplicate id
    /// within the file, a broken quote, bytes that are not UTF-8, a line over
    /// ``SubmissionLimits/maxLineBytes`` — each becomes a problem.
    public static func read(_ data: Data, format: SubmissionFormat,
                            maxLineBytes: Int = SubmissionLimits.maxLineBytes) -> SubmissionReadout {
        let bytes = Array(data)
        var readout = format == .csv ? readCSV(bytes, maxLineBytes: maxLineBytes) : readJSONLines(bytes, maxLineBytes: maxLineBytes)
        // The same id twice in one file: the later lines are the mistake.
        var firstLine: [String: Int] = [:]
        var unique: [(line: Int, parcel: Parcel)] = []
        for entry in readout.parcels {
            if let first = firstLine[entry.parcel.id] {
                readout.problems.append(SubmissionProblem(
                    line: entry.line, field: "id", message: "'\(entry.parcel.id)' appears again (first on line \(first))"))
            } else {
                firstLine[entry.parcel.id] = entry.line
                unique.append(entry)
            }
        }
        readout.parcels = unique
        readout.problems.sort { ($0.line, $0.field ?? "") < ($1.line, $1.field ?? "") }
        return readout
    }

    static func tooLong(_ count: Int, _ limit: Int) -> String {
        "\(NumberText.integer(count)) bytes long, over the limit of \(NumberText.integer(limit)) bytes for one parcel"
    }

    static func readJSONLines(_ bytes: [UInt8], maxLineBytes: Int) -> SubmissionReadout {
        var readout = SubmissionReadout()
        var lineNumber = 0
        for var line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if lineNumber == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }
            guard line.contains(where: { !$0.isASCIIWhitespace }) else { continue }
            readout.records += 1
            guard line.count <= maxLineBytes else {
                readout.problems.append(SubmissionProblem(line: lineNumber, field: nil, message: "the line is " + tooLong(line.count, maxLineBytes)))
                continue
            }
            guard String(validating: line, as: UTF8.self) != nil else {
                readout.problems.append(SubmissionProblem(line: lineNumber, field: nil, message: notUTF8(line)))
                continue
            }
            guard let value = JSONValue.parse(Data(line)) else {
                readout.problems.append(SubmissionProblem(line: lineNumber, field: nil, message: "not valid JSON"))
                continue
            }
            switch ParcelParsing.parcel(fromJSON: value) {
            case .success(let parcel): readout.parcels.append((lineNumber, parcel))
            case .failure(let invalid):
                readout.problems += invalid.issues.map { SubmissionProblem(line: lineNumber, field: $0.field, message: $0.message) }
            }
        }
        return readout
    }

    static func readCSV(_ bytes: [UInt8], maxLineBytes: Int) -> SubmissionReadout {
        var readout = SubmissionReadout()
        var parser = CSVParser(bytes: bytes)
        guard let header = parser.nextRecord() else {
            readout.problems.append(SubmissionProblem(line: 1, field: nil, message: "the file is empty: expected a header line"))
            return readout
        }
        if header.byteCount > maxLineBytes {
            readout.problems.append(SubmissionProblem(line: header.line, field: nil, message: "header: the line is " + tooLong(header.byteCount, maxLineBytes)))
            return readout
        }
        if let problem = header.problem {
            readout.problems.append(SubmissionProblem(line: header.line, field: nil, message: "header: \(problem)"))
            return readout
        }
        let columns = header.fields.map { (String(validating: $0, as: UTF8.self) ?? "").trimmingWhitespace().lowercased() }
        let known = Set(ParcelParsing.csvColumns + ParcelParsing.csvOptionalColumns)
        let missing = ParcelParsing.csvColumns.filter { !columns.contains($0) }
        // Each unknown or repeated column named once, cut as echoed text is, and the message cut to a
        // reason's length: a header line of 10,000 commas is one short problem, not a 10,000-name list.
        var unknown: [String] = []
        var repeated: [String] = []
        var seen = Set<String>()
        for column in columns {
            if !seen.insert(column).inserted {
                if !repeated.contains(column) { repeated.append(column) }
            } else if !known.contains(column) {
                unknown.append(column)
            }
        }
        if !missing.isEmpty || !unknown.isEmpty || !repeated.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing column(s) \(missing.joined(separator: ", "))") }
            if !unknown.isEmpty { parts.append("unknown column(s) \(unknown.map { Echo.quoted($0) }.joined(separator: ", "))") }
            if !repeated.isEmpty { parts.append("repeated column(s) \(repeated.map { Echo.quoted($0) }.joined(separator: ", "))") }
            let expected = " (expected \(ParcelParsing.csvColumns.joined(separator: ",")), "
                + "and optionally \(ParcelParsing.csvOptionalColumns.joined(separator: ",")))"
            readout.problems.append(SubmissionProblem(
                line: header.line, field: nil,
                message: Echo.reason("header: \(parts.joined(separator: "; "))\(expected)")))
            return readout
        }
        while let record = parser.nextRecord() {
            if record.fields.count == 1, record.fields[0].allSatisfy(\.isASCIIWhitespace) { continue }
            readout.records += 1
            if record.byteCount > maxLineBytes {
                readout.problems.append(SubmissionProblem(line: record.line, field: nil, message: "the record is " + tooLong(record.byteCount, maxLineBytes)))
                continue
            }
            if let problem = record.problem {
                readout.problems.append(SubmissionProblem(line: record.line, field: nil, message: problem))
                continue
            }
            guard record.fields.count == columns.count else {
                readout.problems.append(SubmissionProblem(
                    line: record.line, field: nil,
                    message: "expected \(columns.count) fields, found \(record.fields.count)"))
                continue
            }
            var values: [String: String] = [:]
            var badEncoding = false
            for (column, field) in zip(columns, record.fields) {
                if let text = String(validating: field, as: UTF8.self) {
                    values[column] = text
                } else {
                    readout.problems.append(SubmissionProblem(line: record.line, field: column, message: notUTF8(field)))
                    badEncoding = true
                }
            }
            if badEncoding { continue }
            switch ParcelParsing.parcel(fromCSV: values) {
            case .success(let parcel): readout.parcels.append((record.line, parcel))
            case .failure(let invalid):
                readout.problems += invalid.issues.map { SubmissionProblem(line: record.line, field: $0.field, message: $0.message) }
            }
        }
        return readout
    }

    private static func notUTF8<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var offset = 0
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: break loop
            case .error: break loop
            }
        }
        let bad = bytes.dropFirst(offset).first.map { String(format: "0x%02X", $0) } ?? "?"
        return "not valid UTF-8 (byte \(bad) after \(offset) valid bytes); save the file as UTF-8"
    }
}

/// RFC 4180 CSV over raw bytes: quoted fields may hold commas, doubled quotes and line breaks; a
/// record remembers the line it starts on.
struct CSVParser {
    struct Record {
        var fields: [ArraySlice<UInt8>] = []
        var line: Int
        /// What is malformed in this record, if anything.
        var problem: String?
        /// Its length in the file, line breaks inside quoted fields included, the one that ends it not.
        var byteCount = 0
    }

    let bytes: [UInt8]
    private var index: Int
    private var line = 1

    init(bytes: [UInt8]) {
        self.bytes = bytes
        index = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    }

    mutating func nextRecord() -> Record? {
        guard index < bytes.count else { return nil }
        let start = index
        guard var record = nextFields() else { return nil }
        var end = index
        if end > start, bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        record.byteCount = end - start
        return record
    }

    private mutating func nextFields() -> Record? {
        var record = Record(line: line)
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        while true {
            // One field.
            if index < bytes.count, bytes[index] == quote {
                index += 1
                var field: [UInt8] = []
                var closed = false
                while index < bytes.count {
                    let byte = bytes[index]
                    if byte == quote {
                        if index + 1 < bytes.count, bytes[index + 1] == quote {
                            field.append(quote)
                            index += 2
                            continue
                        }
                        index += 1
                        closed = true
                        break
                    }
                    if byte == newline { line += 1 }
                    field.append(byte)
                    index += 1
                }
                record.fields.append(ArraySlice(field))
                if !closed {
                    record.problem = record.problem ?? "a quoted field that opens on this line is never closed"
                    return record
                }
                // A CR ends the record only as part of CRLF (or at the end): a lone one would end a
                // record without ending a line, and every line number after it would be wrong.
                let lineEnd = index < bytes.count && bytes[index] == cr && (index + 1 == bytes.count || bytes[index + 1] == newline)
                if index < bytes.count, bytes[index] != comma, bytes[index] != newline, !lineEnd {
                    record.problem = record.problem ?? "unexpected text after a closing quote (write a quote inside a field as \"\")"
                    while index < bytes.count, bytes[index] != comma, bytes[index] != newline { index += 1 }
                }
            } else {
                let start = index
                while index < bytes.count, bytes[index] != comma, bytes[index] != newline { index += 1 }
                var end = index
                if end > start, bytes[end - 1] == cr, index == bytes.count || bytes[index] == newline { end -= 1 }
                let field = bytes[start..<end]
                if field.contains(quote) {
                    record.problem = record.problem ?? "a quote inside an unquoted field (quote the whole field and double the quote)"
                }
                record.fields.append(field)
            }
            // After the field.
            if index >= bytes.count { return record }
            if bytes[index] == comma {
                index += 1
                continue
            }
            if bytes[index] == cr { index += 1 }
            if index < bytes.count, bytes[index] == newline {
                index += 1
                line += 1
            }
            return record
        }
    }
}

extension UInt8 {
    fileprivate var isASCIIWhitespace: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
}
