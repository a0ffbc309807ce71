import Foundation
import ParcelCore
import Testing

@Suite("The worker status file")
struct WorkerStatusReportTests {
    @Test("what a worker writes by hand is the JSON a reader decodes: every member, sorted, on one line")
    func roundTrip() throws {
        let report = WorkerStatusReport(phase: "stopping", hasWorked: true, pid: 4242,
                                        outcomes: ["completed": 30, "dead_lettered": 1, "delivered": 9],
                                        requeued: 2, redelivered: 4, reconnects: 1, storeFailures: 3, storeTransactions: 17,
                                        storeChanges: 80, storeSeconds: 0.125, inFlight: 6)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("status-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("worker.status.json").path
        try report.write(to: path)
        #expect(WorkerStatusReport.read(from: path) == report)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["has_worked", "in_flight", "outcomes", "phase", "pid", "reconnects", "redelivered", "requeued", "store_changes",
                                     "store_failures", "store_seconds", "store_transactions"])
        #expect(report.json.filter { $0 == "\n" }.count == 1 && report.json.hasSuffix("\n"))
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"), "renamed into place")
    }

    @Test("a file that is not a report, or too large to be one, reads as none")
    func hostileFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("status-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("worker.status.json").path
        #expect(WorkerStatusReport.read(from: path) == nil, "no file yet")
        try Data("{\"phase\":\"working\"".utf8).write(to: URL(fileURLWithPath: path))
        #expect(WorkerStatusReport.read(from: path) == nil, "half a report")
        var big = WorkerStatusReport(phase: "working", hasWorked: true, pid: 1)
        big.outcomes = Dictionary(uniqueKeysWithValues: (0..<5_000).map { ("outcome-\($0)", $0) })
        try Data(big.json.utf8).write(to: URL(fileURLWithPath: path))
        #expect(big.json.utf8.count > WorkerStatusReport.maxFileBytes)
        #expect(WorkerStatusReport.read(from: path) == nil, "over the size bound: not read")
    }
}
