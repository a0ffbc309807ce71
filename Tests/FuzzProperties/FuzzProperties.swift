import AMQP
internal import CRabbitMQ
import Foundation
import ParcelCore

/// What must hold for any input to the three decoders that read untrusted bytes: the task decoder (a
/// message body), the header decoder (a content header's field table) and the submission reader (a
/// file given to `parcelctl submit`). Each check returns every rule the input broke, empty when all
/// held. The libFuzzer targets under `Fuzz/` trap on a broken rule; the regression tests run the
/// committed corpus (`Tests/FuzzCorpus`) through the same checks without a fuzzer.
package enum FuzzProperties {
    /// The decoders, by the names the fuzz targets and corpus folders use.
    package enum Target: String, CaseIterable, Sendable {
        case taskDecoder = "task-decoder"
        case headerDecoder = "header-decoder"
        case submissionReader = "submission-reader"

        package func check(_ bytes: [UInt8]) -> [String] {
            switch self {
            case .taskDecoder: FuzzProperties.taskDecoder(Data(bytes))
            case .headerDecoder: FuzzProperties.headerDecoder(bytes)
            case .submissionReader: FuzzProperties.submissionReader(Data(bytes))
            }
        }
    }

    /// For the fuzz targets: stops the process (libFuzzer then saves the input) when a rule broke.
    package static func require(_ broken: [String], _ target: Target) {
        guard !broken.isEmpty else { return }
        fatalError("\(target.rawValue): \(broken.joined(separator: "; "))")
    }

    // MARK: - Task decoder

    /// `TaskEnvelope.decode` as a worker calls it, against its two readings: the fast path never
    /// accepts what the thorough path refuses or reads differently; a refusal has a bounded reason;
    /// an accepted task, written again, reads back as the same task (the fast way unless it needs an
    /// escape), and writes the same.
    package static func taskDecoder(_ data: Data) -> [String] {
        var broken: [String] = []
        let thorough = TaskEnvelope.decodeThoroughly(data)
        if let fast = TaskEnvelope.scanValid(data), thorough != .success(fast) {
            broken.append("the fast path accepted a task the thorough path reads as \(thorough)")
        }
        if TaskEnvelope.decode(data) != thorough {
            broken.append("decode differs from the thorough reading")
        }
        switch thorough {
        case .failure(let rejection):
            if rejection.reason.isEmpty { broken.append("a rejection without a reason") }
            if rejection.reason.utf8.count > Echo.maxReasonBytes {
                broken.append("a rejection reason of \(rejection.reason.utf8.count) bytes (limit \(Echo.maxReasonBytes))")
            }
        case .success(let task):
            let encoded = task.encoded()
            guard case .success(let again) = TaskEnvelope.decodeThoroughly(encoded) else {
                broken.append("the accepted task, written again, is refused: \(String(decoding: encoded, as: UTF8.self))")
                break
            }
            // The fast path leaves strings with escapes to the thorough one; it takes every other task as written.
            let fast = TaskEnvelope.scanValid(encoded)
            if fast.map({ $0 != again }) ?? !encoded.contains(UInt8(ascii: "\\")) {
                broken.append("the fast path does not read the task as written: \(String(decoding: encoded, as: UTF8.self))")
            }
            if again.encoded() != encoded {
                broken.append("the task reads back differently: \(String(decoding: encoded, as: UTF8.self)) "
                    + "then \(String(decoding: again.encoded(), as: UTF8.self))")
            }
        }
        return broken
    }

    // MARK: - Header decoder

    /// `AMQPHeaderDecoding.decode` against rabbitmq-c's own reading of the same bytes, measured here
    /// by plain recursion: malformed exactly when rabbitmq-c says so; a table only within the bounds
    /// (depth ≤ ``AMQPLimits/maxHeaderDepth``, entries ≤ ``AMQPLimits/maxHeaderEntries``); a refusal
    /// only when the table really is beyond the bound it names.
    package static func headerDecoder(_ encoded: [UInt8]) -> [String] {
        let outcome = AMQPHeaderDecoding.decode(encoded)
        let shape = RawShape(encoded)
        let maxDepth = AMQPLimits.maxHeaderDepth, maxEntries = AMQPLimits.maxHeaderEntries
        switch (outcome, shape) {
        case (.malformed, nil):
            return []
        case (.malformed, let shape?):
            return ["refused as malformed, but rabbitmq-c reads it (\(shape))"]
        case (_, nil):
            return ["rabbitmq-c finds it malformed, but the outcome is \(outcome)"]
        case (.table(let table), let shape?):
            var broken: [String] = []
            if shape.depth > maxDepth || shape.entries > maxEntries {
                broken.append("a table beyond the bounds was let through (\(shape))")
            }
            let swiftDepth = depth(of: table)
            if swiftDepth > maxDepth { broken.append("the Swift table is \(swiftDepth) levels deep") }
            return broken
        case (.refused(.headersTooDeep(let limit)), let shape?):
            return limit == maxDepth && shape.depth > maxDepth ? [] : ["refused as too deep (limit \(limit)), but \(shape)"]
        case (.refused(.tooManyHeaders(let limit)), let shape?):
            return limit == maxEntries && shape.entries > maxEntries ? [] : ["refused as too many (limit \(limit)), but \(shape)"]
        case (.refused(let other), _):
            return ["an unexpected refusal: \(other)"]
        }
    }

    /// How deep a Swift table nests: the table itself is level 1, as in ``AMQPLimits``.
    static func depth(of table: AMQPTable) -> Int {
        func depth(_ value: AMQPFieldValue) -> Int {
            switch value {
            case .table(let t): 1 + (t.values.map(depth).max() ?? 0)
            case .array(let a): 1 + (a.map(depth).max() ?? 0)
            default: 0
            }
        }
        return depth(.table(table))
    }

    /// The depth and the number of entries of a field table as rabbitmq-c decodes it, counted as
    /// ``AMQPLimits`` counts them (the headers table is level 1; every entry of every table and array
    /// counts), by recursion over rabbitmq-c's structures rather than the decoder's own walk.
    struct RawShape: CustomStringConvertible {
        var depth = 0
        var entries = 0

        /// nil when rabbitmq-c finds the bytes malformed.
        init?(_ encoded: [UInt8]) {
            guard encoded.count >= 4 else { return nil }
            var pool = amqp_pool_t()
            init_amqp_pool(&pool, 4096)
            defer { empty_amqp_pool(&pool) }
            var measured: RawShape?
            encoded.withUnsafeBytes { raw in
                var table = amqp_table_t()
                var offset = 0
                let bytes = amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
                guard amqp_decode_table(bytes, &pool, &table, &offset) == AMQP_STATUS_OK.rawValue else { return }
                var shape = RawShape(depth: 0, entries: 0)
                shape.visit(table, level: 1)
                measured = shape
            }
            guard let measured else { return nil }
            self = measured
        }

        private init(depth: Int, entries: Int) {
            self.depth = depth
            self.entries = entries
        }

        private mutating func visit(_ table: amqp_table_t, level: Int) {
            depth = max(depth, level)
            entries += Int(table.num_entries)
            for index in 0..<Int(table.num_entries) { visit(table.entries[index].value, level: level) }
        }

        private mutating func visit(_ value: amqp_field_value_t, level: Int) {
            switch UInt32(value.kind) {
            case AMQP_FIELD_KIND_TABLE.rawValue: visit(value.value.table, level: level + 1)
            case AMQP_FIELD_KIND_ARRAY.rawValue:
                let array = value.value.array
                depth = max(depth, level + 1)
                entries += Int(array.num_entries)
                for index in 0..<Int(array.num_entries) { visit(array.entries[index], level: level + 1) }
            default: break
            }
        }

        var description: String { "\(depth) levels, \(entries) entries" }
    }

    // MARK: - Submission reader

    /// `SubmissionReader.read` in both formats: every problem and every parcel carries a line of the
    /// file; parcels come one per line, in order, valid, with unique ids, never on a line that has a
    /// problem; no more records than lines; every message is bounded as echoed text is.
    package static func submissionReader(_ data: Data) -> [String] {
        var broken: [String] = []
        let lines = data.reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        for format in SubmissionFormat.allCases {
            func fail(_ rule: String) { broken.append("\(format): \(rule)") }
            let readout = SubmissionReader.read(data, format: format)
            for problem in readout.problems {
                if !(1...lines).contains(problem.line) { fail("a problem on line \(problem.line) of \(lines): \(problem)") }
                if problem.message.isEmpty { fail("a problem without a message on line \(problem.line)") }
                if problem.message.utf8.count > Echo.maxReasonBytes {
                    fail("a problem message of \(problem.message.utf8.count) bytes on line \(problem.line) (limit \(Echo.maxReasonBytes))")
                }
            }
            let parcelLines = readout.parcels.map(\.line)
            if let line = parcelLines.first(where: { !(1...lines).contains($0) }) { fail("a parcel on line \(line) of \(lines)") }
            if zip(parcelLines, parcelLines.dropFirst()).contains(where: { $0 >= $1 }) {
                fail("parcels not one per line, in order: lines \(parcelLines)")
            }
            if Set(readout.parcels.map(\.parcel.id)).count != readout.parcels.count { fail("a parcel id twice") }
            if let invalid = readout.parcels.first(where: { !$0.parcel.validationIssues.isEmpty }) {
                fail("an invalid parcel on line \(invalid.line): \(invalid.parcel.validationIssues)")
            }
            let both = Set(parcelLines).intersection(readout.invalidLines)
            if !both.isEmpty { fail("a parcel and a problem on line(s) \(both.sorted())") }
            if readout.records > lines { fail("\(readout.records) records in \(lines) lines") }
            if readout.parcels.count > readout.records { fail("\(readout.parcels.count) parcels from \(readout.records) records") }
        }
        return broken
    }
}

extension FuzzProperties.Target {
    /// The committed inputs for this decoder: the seed corpus `Tests/FuzzCorpus/<name>/` and what the
    /// fuzzers found, `Tests/FuzzCorpus/regressions/<name>/` (file name, bytes), sorted by path.
    package func corpus(filePath: String = #filePath) throws -> [(name: String, bytes: [UInt8])] {
        let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FuzzCorpus")
        var files: [(name: String, bytes: [UInt8])] = []
        for folder in [rawValue, "regressions/\(rawValue)"] {
            let directory = root.appendingPathComponent(folder)
            guard FileManager.default.fileExists(atPath: directory.path) else { continue }
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            where !name.hasPrefix(".") && name != "README.md" {
                files.append(("\(folder)/\(name)", Array(try Data(contentsOf: directory.appendingPathComponent(name)))))
            }
        }
        return files
    }
}
