import Foundation
import ParcelTestSupport
import Testing

// What the deployment recipes (deploy/systemd, deploy/k8s) must say, as pure checks over their text
// or their parsed objects, so that DeployRecipesTests can hold the shipped files to them and break a
// copy on purpose to see each check fail.

extension Tools {
    static var systemdAnalyze: URL { path("PARCELFLOW_SYSTEMD_ANALYZE", "/usr/bin/systemd-analyze") }

    /// The venv of deploy/local/lib.sh's pf_python_tools: $PARCELFLOW_PYTHON_TOOLS, else .local/venv/bin.
    static var pythonTools: URL {
        if let folder = ProcessInfo.processInfo.environment["PARCELFLOW_PYTHON_TOOLS"], !folder.isEmpty {
            return URL(fileURLWithPath: folder)
        }
        return repositoryRoot.appendingPathComponent(".local/venv/bin")
    }

    /// A tool that must be there: a missing one fails the test with how to get it, never skips it.
    static func required(_ tool: URL, _ remedy: String) throws -> URL {
        try #require(FileManager.default.isExecutableFile(atPath: tool.path), "\(tool.path) is missing: \(remedy)")
        return tool
    }
}

/// A systemd unit file's settings in order (a key may repeat), by section.
struct UnitFile {
    var settings: [(section: String, key: String, value: String)] = []

    init(_ text: String) {
        var section = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
            } else if let equals = line.firstIndex(of: "=") {
                settings.append((section, line[..<equals].trimmingCharacters(in: .whitespaces),
                                 line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)))
            }
        }
    }

    func values(_ key: String, in section: String = "Service") -> [String] {
        settings.filter { $0.section == section && $0.key == key }.map(\.value)
    }

    /// The value in force: the last assignment (an empty one resets a list, and is kept as "").
    func value(_ key: String, in section: String = "Service") -> String? { values(key, in: section).last }
}

/// The value after `flag` in a command line (`--flag value` or `--flag=value`).
func flagValue(_ flag: String, in arguments: [String]) -> String? {
    for (index, argument) in arguments.enumerated() {
        if argument == flag, index + 1 < arguments.count { return arguments[index + 1] }
        if argument.hasPrefix(flag + "=") { return String(argument.dropFirst(flag.count + 1)) }
    }
    return nil
}

/// parcel-worker's --shutdown-timeout default (Sources/parcel-worker/ParcelWorker.swift).
let defaultShutdownTimeout = 30.0

enum UnitRules {
    /// Seconds in a systemd time span such as `45`, `45s`, `1min 30s`; nil if it is something else.
    static func seconds(_ span: String) -> Double? {
        let units: [(String, Double)] = [("min", 60), ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var total = 0.0
        for part in span.split(separator: " ") {
            let digits = part.prefix { $0.isNumber || $0 == "." }
            guard let number = Double(digits) else { return nil }
            let unit = part.dropFirst(digits.count)
            if unit.isEmpty || unit == "sec" { total += number; continue }
            guard let factor = units.first(where: { $0.0 == unit })?.1 else { return nil }
            total += number * factor
        }
        return total
    }

    /// What is wrong with the worker's unit; empty when nothing is.
    static func problems(_ unit: UnitFile) -> [String] {
        var problems: [String] = []
        func expect(_ key: String, _ wanted: String) {
            let found = unit.value(key)
            if found != wanted { problems.append("\(key)=\(wanted) expected, found \(found.map { "\(key)=\($0)" } ?? "none")") }
        }
        let starts = unit.values("ExecStart")
        let command = (starts.last ?? "").split(separator: " ").map(String.init)
        if starts.count != 1 || command.first?.hasSuffix("/parcel-worker") != true {
            problems.append("one ExecStart running parcel-worker expected, found \(starts)")
        }
        let shutdown = flagValue("--shutdown-timeout", in: command).flatMap(Double.init) ?? defaultShutdownTimeout
        if let stop = unit.value("TimeoutStopSec").flatMap(seconds) {
            if stop <= shutdown {
                problems.append("TimeoutStopSec (\(stop) s) must exceed the worker's --shutdown-timeout (\(shutdown) s): "
                                + "systemd would SIGKILL a worker still draining")
            }
        } else {
            problems.append("TimeoutStopSec (above --shutdown-timeout) expected, found \(unit.value("TimeoutStopSec") ?? "none")")
        }
        expect("Restart", "on-failure")
        expect("KillSignal", "SIGTERM")
        for (key, wanted) in [("DynamicUser", "yes"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                              ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("PrivateDevices", "yes")] {
            expect(key, wanted)
        }
        // An empty CapabilityBoundingSet= is the setting: no capability at all.
        if unit.value("CapabilityBoundingSet") != "" { problems.append("CapabilityBoundingSet= (empty: no capabilities) expected") }
        let families = Set((unit.value("RestrictAddressFamilies") ?? "").split(separator: " ").map(String.init))
        if families != ["AF_INET", "AF_INET6", "AF_UNIX"] {
            problems.append("RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX expected, found \(families.sorted())")
        }
        if !unit.values("SystemCallFilter").contains("@system-service") {
            problems.append("SystemCallFilter=@system-service expected")
        }
        for key in ["MemoryMax", "LimitNOFILE"] where unit.value(key) == nil {
            problems.append("\(key) expected")
        }
        if !unit.values("EnvironmentFile").contains("/etc/parcelflow/worker.env") {
            problems.append("EnvironmentFile=/etc/parcelflow/worker.env expected")
        }
        return problems
    }
}

enum WorkerManifestRules {
    /// What is wrong with the worker Deployment (as validate.py --dump gives it); empty when nothing is.
    static func problems(_ deployment: [String: Any]) -> [String] {
        var problems: [String] = []
        let pod = ((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any] ?? [:]
        guard let container = (pod["containers"] as? [[String: Any]])?.first(where: {
            (($0["command"] as? [String])?.first ?? "").hasSuffix("/parcel-worker")
        }) else { return ["no container runs parcel-worker"] }
        let arguments = container["args"] as? [String] ?? []
        let shutdown = flagValue("--shutdown-timeout", in: arguments).flatMap(Double.init) ?? defaultShutdownTimeout
        let grace = (pod["terminationGracePeriodSeconds"] as? NSNumber)?.doubleValue ?? 30 // Kubernetes' default
        if grace <= shutdown {
            problems.append("terminationGracePeriodSeconds (\(grace)) must exceed --shutdown-timeout (\(shutdown)): "
                            + "the kubelet would SIGKILL a worker still draining")
        }
        if flagValue("--metrics-host", in: arguments) != "0.0.0.0" {
            problems.append("--metrics-host 0.0.0.0 expected: probes and Prometheus reach the pod from outside it")
        }
        let metricsPort = flagValue("--metrics-port", in: arguments).flatMap(Int.init)
        let ports = container["ports"] as? [[String: Any]] ?? []
        for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/health")] {
            let get = (container[probe] as? [String: Any])?["httpGet"] as? [String: Any]
            if get?["path"] as? String != path { problems.append("\(probe) must GET \(path), found \(String(describing: get?["path"]))") }
            let port = get?["port"]
            let number = (port as? NSNumber)?.intValue
                ?? ports.first { $0["name"] as? String == port as? String }.flatMap { ($0["containerPort"] as? NSNumber)?.intValue }
            if number == nil || number != metricsPort {
                problems.append("\(probe) must ask the metrics port (--metrics-port \(metricsPort.map(String.init) ?? "none")), found \(String(describing: port))")
            }
        }
        let podSecurity = pod["securityContext"] as? [String: Any] ?? [:]
        let security = container["securityContext"] as? [String: Any] ?? [:]
        if (podSecurity["seccompProfile"] as? [String: Any])?["type"] as? String != "RuntimeDefault" {
            problems.append("seccompProfile RuntimeDefault expected")
        }
        if podSecurity["runAsNonRoot"] as? Bool != true && security["runAsNonRoot"] as? Bool != true {
            problems.append("runAsNonRoot expected")
        }
        if security["readOnlyRootFilesystem"] as? Bool != true { problems.append("readOnlyRootFilesystem expected") }
        if security["allowPrivilegeEscalation"] as? Bool != false { problems.append("allowPrivilegeEscalation: false expected") }
        if (security["capabilities"] as? [String: Any])?["drop"] as? [String] != ["ALL"] { problems.append("capabilities drop ALL expected") }
        let resources = container["resources"] as? [String: Any] ?? [:]
        for kind in ["requests", "limits"] where (resources[kind] as? [String: Any])?["memory"] == nil {
            problems.append("resources.\(kind).memory expected")
        }
        return problems
    }
}
