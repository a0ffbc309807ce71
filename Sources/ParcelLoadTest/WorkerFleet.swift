import Foundation
import ParcelCore
import Synchronization

/// The `parcel-worker` processes a load test runs: started, killed and replaced, and measured.
public final class WorkerFleet: Sendable {
    public struct Launch: Sendable {
        public var binary: URL
        public var arguments: [String]
        public var environment: [String: String]
        /// Where each worker's output goes (`worker-N.log`) and where it reports its state
        /// (`worker-N.status.json`, `parcel-worker --status-file`).
        public var logFolder: URL
        /// Commands that run a worker on a host of its own (`deploy/local/netns.sh exec w1 --`): worker N
        /// runs under the ((N - 1) mod count)th; empty, here. Each must exec its command (the worker keeps
        /// the pid the fleet signals and measures).
        public var hosts: [[String]]

        public init(binary: URL, arguments: [String], environment: [String: String], logFolder: URL, hosts: [[String]] = []) {
            self.binary = binary
            self.arguments = arguments
            self.environment = environment
            self.logFolder = logFolder
            self.hosts = hosts
        }
    }

    /// One worker process, and what was last read of it.
    final class Member: @unchecked Sendable {
        // @unchecked: `process`, `log` and `status` are set in init and then only read; `last` is behind its own lock.
        let process: Process
        let log: URL
        let status: URL
        let last = Mutex<ProcessStats?>(nil)

        init(process: Process, log: URL, status: URL) {
            self.process = process
            self.log = log
            self.status = status
        }

        /// What the worker last reported of itself.
        var report: WorkerStatusReport? { WorkerStatusReport.read(from: status.path) }

        var pid: Int32 { process.processIdentifier }

        func sample() {
            if let stats = ProcessStats.of(pid) { last.withLock { $0 = stats } }
        }
    }

    private struct State {
        var running: [Member] = []
        var ended: [Member] = []
        var started = 0
        var killed = 0
        /// Workers that ended on their own (not killed by the test): "worker-N.log: status S".
        var crashed: [String] = []
    }

    let launch: Launch
    private let state = Mutex(State())

    public init(_ launch: Launch) {
        self.launch = launch
        try? FileManager.default.createDirectory(at: launch.logFolder, withIntermediateDirectories: true)
    }

    /// Starts one more worker.
    public func start() throws {
        let number = state.withLock { state -> Int in
            state.started += 1
            return state.started
        }
        let process = Process()
        let status = launch.logFolder.appendingPathComponent("worker-\(number).status.json")
        try? FileManager.default.removeItem(at: status)
        let command = (launch.hosts.isEmpty ? [] : launch.hosts[(number - 1) % launch.hosts.count])
            + [launch.binary.path] + launch.arguments + ["--status-file", status.path]
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        var environment = launch.environment
        // A cluster's URL list: each worker starts at the next node, as a cluster's clients spread over it.
        if let list = environment["PARCELFLOW_AMQP_URL"]?.split(separator: ","), list.count > 1 {
            let first = (number - 1) % list.count
            environment["PARCELFLOW_AMQP_URL"] = (list[first...] + list[..<first]).joined(separator: ",")
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = launch.logFolder.appendingPathComponent("worker-\(number).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? handle.close()
        let member = Member(process: process, log: log, status: status)
        state.withLock { $0.running.append(member) }
    }

    /// Waits until every running worker reports that it is working (connected, consuming).
    public func waitUntilWorking(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        for member in state.withLock({ $0.running }) {
            while !Self.isWorking(member) {
                guard member.process.isRunning else {
                    throw LoadTestError("a worker exited at start (status \(member.process.terminationStatus)): "
                        + Self.tail(member.log))
                }
                guard ContinuousClock.now < deadline else {
                    throw LoadTestError("a worker did not start working within \(timeout): " + Self.tail(member.log))
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    static func isWorking(_ member: Member) -> Bool {
        member.report?.phase == "working"
    }

    /// Whether the worker has been working at any time (it handles signals from then on).
    static func hasWorked(_ member: Member) -> Bool {
        member.report?.hasWorked == true
    }

    static func tail(_ log: URL) -> String {
        String(((try? String(contentsOf: log, encoding: .utf8)) ?? "").suffix(600))
    }

    /// What a kill found: the victim's tasks in flight in its last status report, and that report's age.
    public struct Killed: Sendable {
        public var inFlight: Int?
        public var reportAge: Double?
    }

    /// Kills a working worker with SIGKILL (as a crash would) and starts a replacement: one with tasks in
    /// flight when there is one, else any working one, at random. Nil when no worker is working (the
    /// replacements are still starting): nothing was killed.
    @discardableResult
    public func killOneAndReplace() async throws -> Killed? {
        // The reports are read outside the lock: a file read each.
        let readings = state.withLock { $0.running }.compactMap { member -> (Member, WorkerStatusReport, Double?)? in
            // The file's time first: the report read after it is at least as new.
            let written = (try? FileManager.default.attributesOfItem(atPath: member.status.path))?[.modificationDate] as? Date
            guard let report = member.report, report.phase == "working" else { return nil }
            return (member, report, written.map { max(0, Date().timeIntervalSince($0)) })
        }
        // Not while a replacement is still starting (see WorkerKills.swift).
        guard readings.count == state.withLock({ $0.running.count }) else { return nil }
        let busy = readings.filter { ($0.1.inFlight ?? 0) > 0 }
        guard let (chosen, report, age) = (busy.isEmpty ? readings : busy).randomElement() else { return nil }
        let victim = state.withLock { state -> Member? in
            // Ended on its own meanwhile (``sample()`` replaced it): not this time.
            guard let index = state.running.firstIndex(where: { $0 === chosen }) else { return nil }
            let member = state.running.remove(at: index)
            state.ended.append(member)
            state.killed += 1
            return member
        }
        guard let victim else { return nil }
        victim.sample()
        kill(victim.pid, SIGKILL)
        while victim.process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        try start()
        return Killed(inFlight: report.inFlight, reportAge: age)
    }

    /// Reads every running worker's CPU and memory (a killed worker keeps its last reading). A worker
    /// that ended on its own is recorded as crashed and replaced, as a supervisor would.
    public func sample() {
        let ended = state.withLock { state -> [Member] in
            // One reading per worker: one that ends between two readings must not slip through both.
            let ended = state.running.filter { !$0.process.isRunning }
            state.running.removeAll { member in ended.contains { $0 === member } }
            state.ended += ended
            state.crashed += ended.map { "\($0.log.lastPathComponent): exit status \($0.process.terminationStatus)" }
            return ended
        }
        for _ in ended { try? start() }
        for member in state.withLock({ $0.running }) { member.sample() }
    }

    /// Each running worker's resident memory at its last sample, in bytes (the soak's readings).
    public var residentBytes: [Int] {
        state.withLock { $0.running }.compactMap { $0.last.withLock { $0?.residentBytes } }
    }

    /// Workers that ended on their own during the run.
    public var crashes: [String] { state.withLock { $0.crashed } }

    public var kills: Int { state.withLock { $0.killed } }

    /// Seconds the workers spent in status-store transactions, from the report each writes when it
    /// stops cleanly (a killed worker's last report is older; its time since is not counted).
    public var storeSeconds: Double {
        state.withLock { $0.running + $0.ended }.compactMap { $0.report?.storeSeconds }.reduce(0, +)
    }

    /// Deliveries the broker marked as given out before, over every worker the fleet ran, as each
    /// last reported (a worker killed between two reports leaves its last tenth of a second out).
    public var redelivered: Int {
        state.withLock { $0.running + $0.ended }.compactMap { $0.report?.redelivered }.reduce(0, +)
    }

    /// The workers' store transactions, counted as ``storeSeconds`` is.
    public var storeTransactions: Int {
        state.withLock { $0.running + $0.ended }.compactMap { $0.report?.storeTransactions }.reduce(0, +)
    }

    /// CPU seconds of every worker the fleet ran, and the highest peak resident memory of any.
    public var usage: (cpuSeconds: Double, peakResidentBytes: Int) {
        let members = state.withLock { $0.running + $0.ended }
        let stats = members.compactMap { $0.last.withLock { $0 } }
        return (stats.map(\.cpuSeconds).reduce(0, +), stats.map(\.peakResidentBytes).max() ?? 0)
    }

    /// SIGTERM to every worker; waits for them (SIGKILL after `timeout`, well past the 10 s the fleet's
    /// workers are given to finish their tasks, `--shutdown-timeout`). Returns the exit statuses
    /// of the workers that were running and working.
    @discardableResult
    public func stop(timeout: Duration = .seconds(30)) async -> [Int32] {
        let members = state.withLock { state -> [Member] in
            let running = state.running
            state.ended += running
            state.running = []
            return running
        }
        // A replacement started by a kill just before the end is let reach `working` first (up to 10 s):
        // a SIGTERM that comes while it starts may be taken before its service group handles signals,
        // and it would then work on until the SIGKILL below.
        let starting = ContinuousClock.now + .seconds(10)
        while members.contains(where: { $0.process.isRunning && !Self.hasWorked($0) }), ContinuousClock.now < starting {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for member in members { kill(member.pid, SIGTERM) }
        let deadline = ContinuousClock.now + timeout
        while members.contains(where: \.process.isRunning), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for member in members where member.process.isRunning { kill(member.pid, SIGKILL) }
        while members.contains(where: \.process.isRunning) { try? await Task.sleep(for: .milliseconds(20)) }
        // A replacement still starting up when the run ended may die of the signal before it handles
        // signals at all: only workers that were working owe a clean stop.
        return members.filter(Self.hasWorked).map { $0.process.terminationStatus }
    }
}

/// Why a load test could not run (not a broken invariant: those are in the verdict).
public struct LoadTestError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}
