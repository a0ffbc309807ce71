import Foundation
import ParcelTestSupport
import Testing

/// `deploy/local/netns.sh`: test hosts of our own (network namespaces on a bridge) and the cluster on
/// them. Hosts without brokers are cheap (well under a second), so these tests use `up --hosts-only`
/// with listeners of their own; those that start the whole cluster (15-30 s, more on a busy machine)
/// are in ``OnTheCluster/Partitions``.
/// Each test uses a prefix of its own, never the default `pfnet` that the load tests use.
@Suite("netns.sh: test hosts in network namespaces, and the cluster on them", .serialized,
       .enabled(if: NetnsHosts.available, "needs root and the ip command (iproute2) to make network namespaces"))
struct NetnsHostsTests {
    @Test("hosts reach each other; isolate cuts a host off, heal restores it; split cuts node from node, not clients; down leaves nothing",
          .timeLimit(.minutes(1)))
    func hostsIsolateSplitDown() async throws {
        let hosts = NetnsHosts(prefix: "pfta")
        try await hosts.requireClean()
        try await hosts.cleaningUp {
            let up = try await hosts.script(["up", "--hosts-only"])
            try #require(up.status == 0, "\(up.errors)")
            #expect(up.lines == ["n1\tpfta-n1\t10.215.0.11", "n2\tpfta-n2\t10.215.0.12", "n3\tpfta-n3\t10.215.0.13",
                                 "w1\tpfta-w1\t10.215.0.21", "w2\tpfta-w2\t10.215.0.22", "c\tpfta-c\t10.215.0.31"])
            // The addresses exist only inside the namespaces.
            #expect(try await runChild(NetnsHosts.ip, ["-br", "addr"]).lines.filter { $0.contains("10.215.0.") } == [])

            let n1 = try hosts.listen(on: "n1")
            let n2 = try hosts.listen(on: "n2")
            try #require(try await eventually { try await hosts.reaches("w1", "10.215.0.11") }, "w1 never reached n1's listener: \(n1.output)")
            try #require(try await eventually { try await hosts.reaches("w1", "10.215.0.12") }, "w1 never reached n2's listener: \(n2.output)")
            // `exec` became the command: the pid the caller holds is the listener's, inside n1's namespace.
            let inN1 = try await runChild(NetnsHosts.ip, ["netns", "pids", "pfta-n1"])
            #expect(inN1.lines.contains("\(n1.process.processIdentifier)"), "\(inN1.output)")
            for from in ["c", "w2", "n2", "n3"] { #expect(try await hosts.reaches(from, "10.215.0.11"), "\(from) → n1") }

            // isolate: n1 reaches nobody and nobody reaches it, but its processes run on; heal undoes it.
            try await hosts.require(["isolate", "n1"])
            for from in ["w1", "c", "n2"] { #expect(try await !hosts.reaches(from, "10.215.0.11"), "\(from) → isolated n1") }
            #expect(try await !hosts.reaches("n1", "10.215.0.12"), "isolated n1 → n2")
            #expect(n1.process.isRunning)
            try await hosts.require(["heal", "n1"])
            #expect(try await eventually { try await hosts.reaches("w1", "10.215.0.11") }, "w1 → healed n1")

            // A worker host isolated by node name is refused; by host name it is cut off from every node.
            try await hosts.require(["isolate", "w1"])
            #expect(try await !hosts.reaches("w1", "10.215.0.11"), "isolated w1 → n1")
            #expect(try await hosts.reaches("c", "10.215.0.11"), "c → n1 while w1 is isolated")
            try await hosts.require(["heal", "all"])
            #expect(try await eventually { try await hosts.reaches("w1", "10.215.0.11") }, "healed w1 → n1")

            // split n1 (named as `cluster nodes` names it): the nodes lose each other, clients and workers keep all.
            try await hosts.require(["split", "parcelflow-n1@10.215.0.11"])
            #expect(try await !hosts.reaches("n2", "10.215.0.11"), "n2 → split n1")
            #expect(try await !hosts.reaches("n3", "10.215.0.11"), "n3 → split n1")
            #expect(try await !hosts.reaches("n1", "10.215.0.12"), "split n1 → n2")
            for from in ["c", "w1", "w2"] { #expect(try await hosts.reaches(from, "10.215.0.11"), "\(from) → split n1") }
            #expect(try await hosts.reaches("n3", "10.215.0.12"), "n3 → n2 (not split)")
            // Both ways (a connection check alone cannot tell: one way cut already stops TCP).
            #expect(try await hosts.blackholes() == ["n1": ["10.215.0.12", "10.215.0.13"], "n2": ["10.215.0.11"], "n3": ["10.215.0.11"]])
            try await hosts.require(["heal", "n1"])
            #expect(try await eventually { try await hosts.reaches("n2", "10.215.0.11") }, "n2 → healed n1")
            #expect(try await hosts.reaches("n1", "10.215.0.12"), "healed n1 → n2")
            #expect(try await hosts.blackholes() == [:])

            // down kills what still runs there and deletes everything; a second down is a no-op.
            let down = try await hosts.script(["down"])
            #expect(down.status == 0, "\(down.errors)")
            #expect(await n1.exitStatus(timeout: .seconds(5)) != nil, "n1's listener survived down")
            #expect(await n2.exitStatus(timeout: .seconds(5)) != nil, "n2's listener survived down")
            #expect(try await hosts.leftovers() == [])
            let again = try await hosts.script(["down"])
            #expect(again.status == 0, "\(again.errors)")
        }
    }

    @Test("an up that fails half-way leaves nothing; an up cleans what a crashed run left first", .timeLimit(.minutes(1)))
    func failedUpAndLeftovers() async throws {
        let hosts = NetnsHosts(prefix: "pftb")
        try await hosts.requireClean()
        try await hosts.cleaningUp {
            let failed = try await hosts.script(["up", "--hosts-only"], environment: ["PF_NETNS_FAIL_AT": "w1"])
            #expect(failed.status != 0 && failed.errors.contains("failing on purpose after making host w1"), "\(failed.errors)")
            #expect(try await hosts.leftovers() == [], "\(failed.errors)")

            // A crashed run's namespace (made by hand here): up removes it and makes the hosts afresh.
            let stray = try await runChild(NetnsHosts.ip, ["netns", "add", "pftb-n3"])
            try #require(stray.status == 0, "\(stray.errors)")
            let overStray = try await hosts.script(["up", "--hosts-only"])
            #expect(overStray.status == 0 && overStray.errors.contains("cleaning what an earlier run left"), "\(overStray.errors)")
            let n3 = try hosts.listen(on: "n3")
            #expect(try await eventually { try await hosts.reaches("c", "10.215.0.13") }, "c → n3 made over a stray namespace: \(n3.output)")

            // A crashed run's hosts with a process still running in one: up kills it, then makes the hosts.
            let again = try await hosts.script(["up", "--hosts-only"])
            #expect(again.status == 0 && again.errors.contains("cleaning what an earlier run left"), "\(again.errors)")
            #expect(await n3.exitStatus(timeout: .seconds(5)) != nil, "the earlier run's process survived up")
            #expect(try await !hosts.reaches("c", "10.215.0.13"), "the earlier run's listener still answers")
            let fresh = try hosts.listen(on: "n3")
            #expect(try await eventually { try await hosts.reaches("c", "10.215.0.13") }, "c → n3 after up: \(fresh.output)")
            try await hosts.require(["down"])
            #expect(try await hosts.leftovers() == [])
        }
    }

    @Test("bad hosts, nodes and settings are refused with a reason")
    func refusals() async throws {
        let hosts = NetnsHosts(prefix: "pftd")
        try await hosts.requireClean()
        for (arguments, environment, message) in [
            (["isolate", "bogus"], [:], "unknown host 'bogus'"),
            (["split", "w1"], [:], "split takes a broker node"),
            (["stop", "--name", "parcelflow-n9"], [:], "unknown host 'parcelflow-n9'"),
            (["exec", "c", "--", "true"], [:], "host c (network namespace pftd-c) does not exist; run up first"),
            (["hosts"], ["PF_NETNS_PREFIX": "Bad-Prefix"], "PF_NETNS_PREFIX must be"),
            (["hosts"], ["PF_NETNS_NET": "10.215.0.1"], "PF_NETNS_NET must be"),
        ] as [([String], [String: String], String)] {
            let refused = try await hosts.script(arguments, environment: environment)
            #expect(refused.status == 1 && refused.errors.contains(message), "\(arguments): \(refused.errors)")
        }
        #expect(try await hosts.leftovers() == [])
    }
}

/// One run's hosts: `deploy/local/netns.sh` with a prefix of its own, on 10.215.0.0/24.
struct NetnsHosts {
    static let script = repositoryRoot.appendingPathComponent("deploy/local/netns.sh")
    static let ip = URL(fileURLWithPath: ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip")
    static var available: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: ip.path) }

    let prefix: String
    var environment: [String: String] { ["PF_NETNS_PREFIX": prefix, "PF_NETNS_NET": "10.215.0"] }

    func script(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> ChildExit {
        try await runChild(URL(fileURLWithPath: "/bin/bash"), [Self.script.path] + arguments,
                           environment: environment.merging(extra) { $1 })
    }

    /// Runs the script and fails the test (with its errors) unless it exits 0.
    func require(_ arguments: [String]) async throws {
        let exit = try await script(arguments)
        try #require(exit.status == 0, "netns.sh \(arguments.joined(separator: " ")): \(exit.errors)")
    }

    /// Starts from nothing: what an earlier, interrupted run of this test left is removed.
    func requireClean() async throws {
        try await require(["down"])
        try #require(try await leftovers() == [])
    }

    /// Runs `body`; when it throws (a failed `#require`), takes everything down before passing the error on.
    func cleaningUp(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            _ = try? await script(["down"])
            throw error
        }
    }

    /// What of ours `ip` shows in the root namespace: our namespaces, links or addresses.
    func leftovers() async throws -> [String] {
        let namespaces = try await runChild(Self.ip, ["netns", "list"]).lines.filter { $0.hasPrefix("\(prefix)-") }
        let links = try await runChild(Self.ip, ["-br", "link"]).lines.filter { $0.hasPrefix("v-") || $0.hasPrefix("br0") || $0.contains(prefix) }
        let addresses = try await runChild(Self.ip, ["-br", "addr"]).lines.filter { $0.contains("10.215.0.") }
        return namespaces + links + addresses
    }

    /// The blackhole routes in each node host's namespace (hosts without any left out).
    func blackholes() async throws -> [String: [String]] {
        var routes: [String: [String]] = [:]
        for host in ["n1", "n2", "n3"] {
            let shown = try await runChild(Self.ip, ["-n", "\(prefix)-\(host)", "route", "show", "type", "blackhole"])
            let addresses = shown.lines.compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }.sorted()
            if !addresses.isEmpty { routes[host] = addresses }
        }
        return routes
    }

    /// A TCP listener on port 7001 of `host`'s address, run through `netns.sh exec`.
    func listen(on host: String) throws -> BackgroundProcess {
        let address = ["n1": "10.215.0.11", "n2": "10.215.0.12", "n3": "10.215.0.13"][host] ?? "10.215.0.31"
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("parcelflow-netns-\(UUID().uuidString).log")
        return try BackgroundProcess(URL(fileURLWithPath: "/bin/bash"),
                                     [Self.script.path, "exec", host, "--", "python3", "-m", "http.server", "--bind", address, "7001"],
                                     environment: environment, log: log)
    }

    /// Whether `from` can open a TCP connection to port 7001 of `address` within a second.
    func reaches(_ from: String, _ address: String) async throws -> Bool {
        try await script(["exec", from, "--", "timeout", "-s", "KILL", "1", "bash", "-c", "exec 3<>/dev/tcp/\(address)/7001"]).status == 0
    }
}
