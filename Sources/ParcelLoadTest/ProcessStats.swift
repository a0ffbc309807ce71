import Foundation
import Synchronization

/// What Linux says about a process (`/proc/PID/stat`, `/proc/PID/status`): CPU time used and memory.
public struct ProcessStats: Sendable, Hashable {
    /// User plus system CPU time, in seconds.
    public var cpuSeconds: Double
    /// Resident memory at its peak (VmHWM), in bytes.
    public var peakResidentBytes: Int

    /// nil when the process is gone or /proc cannot be read.
    public static func of(_ pid: Int32) -> ProcessStats? {
        guard let cpu = cpuSeconds(of: pid),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        else { return nil }
        let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
        let kilobytes = peak.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        return ProcessStats(cpuSeconds: cpu, peakResidentBytes: kilobytes * 1024)
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

    /// Clock ticks per second for /proc times (USER_HZ; 100 on Linux).
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// This process.
    public static var current: ProcessStats? { of(getpid()) }
}

/// CPU used by every process of one name over a span, across restarts: a process that was there at
/// the start counts from then, one that appears later (a restarted broker) counts from its birth.
public final class CPUUsage: Sendable {
    private struct Readings {
        var first: [Int32: Double] = [:]
        var last: [Int32: Double] = [:]
        /// The processes of the name found by the last look through /proc.
        var alive: [Int32] = []
    }

    public let name: String
    private let readings = Mutex(Readings())

    public init(of name: String) {
        self.name = name
        let now = Self.read(name)
        readings.withLock { $0.first = now; $0.last = now; $0.alive = Array(now.keys) }
    }

    /// Reads the known processes' CPU; looks through /proc for processes of the name only when one of
    /// them is gone or none is known (a broker stopped and started), not at every sample.
    public func sample() {
        let alive = readings.withLock { $0.alive }
        var now: [Int32: Double] = [:]
        for pid in alive { now[pid] = ProcessStats.cpuSeconds(of: pid) }
        let rescanned = alive.isEmpty || now.count < alive.count
        if rescanned { now = Self.read(name) }
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

    private static func read(_ name: String) -> [Int32: Double] {
        var cpu: [Int32: Double] = [:]
        for pid in ProcessStats.pids(named: name) { cpu[pid] = ProcessStats.cpuSeconds(of: pid) }
        return cpu
    }
}
