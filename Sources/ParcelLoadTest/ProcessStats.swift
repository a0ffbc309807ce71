import Foundation
import Synchronization

/// What Linux says about a process (`/proc/PID/stat`, `/proc/PID/status`): CPU time used and memory.
public struct ProcessStats: Sendable, Hashable {
    /// User plus system CPU time, in seconds.
    public var cpuSeconds: Double
    /// Resident memory at its peak (VmHWM), in bytes.
    public var peakResidentBytes: Int
    /// Resident memory now (VmRSS), in bytes.
    public var residentBytes: Int

    /// nil when the process is gone or /proc cannot be read.
    public static func of(_ pid: Int32) -> ProcessStats? {
        guard let cpu = cpuSeconds(of: pid),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        else { return nil }
        let lines = status.split(separator: "\n")
        func bytes(_ field: String) -> Int {
            let line = lines.first { $0.hasPrefix(field) }
            return (line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0) * 1024
        }
        return ProcessStats(cpuSeconds: cpu, peakResidentBytes: bytes("VmHWM:"), residentBytes: bytes("VmRSS:"))
    }

    /// User plus system CPU seconds of `pid` (`/proc/PID/stat` alone); nil when it is gone.
    public static func cpuSeconds(of pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / ticksPerSecond
    }

    /// The ids of running processes whose command name is `name` (`beam.smp`: RabbitMQ's VM).
    public static func pids(named name: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = Int32(entry),
                  let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8),
                  comm.trimmingCharacters(in: .whitespacesAndNewlines) == name
            else { return nil }
            return pid
        }
    }

    /// The value of `variable` in the environment `pid` was started with (`/proc/PID/environ`); nil
    /// when it has none, or the process is another user's.
    public static func environmentValue(of pid: Int32, _ variable: String) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        let prefix = Array((variable + "=").utf8)
        for entry in data.split(separator: 0) where entry.starts(with: prefix) {
            return String(decoding: entry.dropFirst(prefix.count), as: UTF8.self)
        }
        return nil
    }

    /// Clock ticks per second for /proc times (USER_HZ; 100 on Linux).
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// This process.
    public static var current: ProcessStats? { of(getpid()) }
}

/// CPU used by every process of one name over a span, across restarts: a process that was there at
/// the start counts from then, one that appears later (a restarted broker) counts from its birth.
///
/// With `ports`, only the brokers of the run count: the `beam.smp` processes started with
/// `RABBITMQ_NODE_PORT` one of them (as `deploy/local/broker.sh` starts its nodes), when any is at the
/// start; other nodes on the machine (a second cluster, a test's node) are left out. Without any such
/// process at the start, every process of the name counts.
public final class CPUUsage: Sendable {
    private struct Readings {
        var first: [Int32: Double] = [:]
        var last: [Int32: Double] = [:]
        /// The processes of the name found by the last look through /proc.
        var alive: [Int32] = []
    }

    public let name: String
    /// The ports a process's `RABBITMQ_NODE_PORT` must be one of; empty: every process of the name.
    private let ports: Set<Int>
    private let readings = Mutex(Readings())

    public init(of name: String, ports: Set<Int> = []) {
        self.name = name
        let matching = ProcessStats.pids(named: name).contains { Self.started(pid: $0, on: ports) }
        self.ports = matching ? ports : []
        let now = Self.read(name, ports: self.ports)
        readings.withLock { $0.first = now; $0.last = now; $0.alive = Array(now.keys) }
    }

    /// Reads the known processes' CPU; looks through /proc for processes of the name only when one of
    /// them is gone or none is known (a broker stopped and started), not at every sample.
    public func sample() {
        let alive = readings.withLock { $0.alive }
        var now: [Int32: Double] = [:]
        for pid in alive { now[pid] = ProcessStats.cpuSeconds(of: pid) }
        let rescanned = alive.isEmpty || now.count < alive.count
        if rescanned { now = Self.read(name, ports: ports) }
        readings.withLock { readings in
            if rescanned { readings.alive = Array(now.keys) }
            for (pid, cpu) in now {
                if readings.first[pid] == nil { readings.first[pid] = 0 }
                readings.last[pid] = cpu
            }
        }
    }

    /// CPU seconds used since this was made (as of the last sample).
    public var seconds: Double {
        readings.withLock { readings in
            readings.last.reduce(0) { $0 + $1.value - (readings.first[$1.key] ?? 0) }
        }
    }

    private static func read(_ name: String, ports: Set<Int>) -> [Int32: Double] {
        var cpu: [Int32: Double] = [:]
        for pid in ProcessStats.pids(named: name) where ports.isEmpty || started(pid: pid, on: ports) {
            cpu[pid] = ProcessStats.cpuSeconds(of: pid)
        }
        return cpu
    }

    private static func started(pid: Int32, on ports: Set<Int>) -> Bool {
        ProcessStats.environmentValue(of: pid, "RABBITMQ_NODE_PORT").flatMap { Int($0) }.map(ports.contains) ?? false
    }
}
