import Foundation
import ParcelTestSupport
import Testing

extension OnTheCluster {
    /// The cluster on hosts of its own (`deploy/local/netns.sh`) and a partition under load
    /// (`deploy/local/partitions.sh`). Here, after the other tests and one at a time with the cluster's
    /// (``TestCluster/exclusive(_:)``): each starts three more nodes and keeps both cores busy.
    @Suite("Partitions: the cluster on hosts of its own, cut off and healed under load", .serialized,
           .enabled(if: NetnsHosts.available, "needs root and the ip command (iproute2) to make network namespaces"))
    struct Partitions {
        @Test("up starts the three nodes on their hosts as one cluster; parcelctl on host c uses it; a node stops and starts by name; down leaves nothing",
              .timeLimit(.minutes(5)))
        func clusterOnHosts() async throws {
            let parcelctl = try #require(builtProduct("parcelctl"), "parcelctl is not built next to the tests: swift build --build-tests first")
            let hosts = NetnsHosts(prefix: "pftc")
            try await hosts.requireClean()
            try await hosts.cleaningUp {
                let up = try await hosts.script(["up"])
                try #require(up.status == 0, "\(up.errors)")
                let urls = "amqp://guest:guest@10.215.0.11:5672/%2f,amqp://guest:guest@10.215.0.12:5672/%2f,amqp://guest:guest@10.215.0.13:5672/%2f"
                #expect(up.lines.last == urls)
                #expect(try await hosts.script(["cluster", "status"]).status == 0)
                let nodes = try await hosts.script(["cluster", "nodes"])
                #expect(nodes.lines == ["parcelflow-n1@10.215.0.11\tamqp://guest:guest@10.215.0.11:5672/%2f",
                                        "parcelflow-n2@10.215.0.12\tamqp://guest:guest@10.215.0.12:5672/%2f",
                                        "parcelflow-n3@10.215.0.13\tamqp://guest:guest@10.215.0.13:5672/%2f"])

                let bench = try await hosts.script(["exec", "c", "--", parcelctl.path, "bench", "amqp", "--url", urls,
                                                    "--messages", "300", "--runs", "1", "--json"])
                try #require(bench.status == 0, "\(bench.output)\(bench.errors)")
                let report = try #require(try JSONSerialization.jsonObject(with: Data(bench.output.utf8)) as? [String: Any], "\(bench.output)")
                #expect(report["messages"] as? Int == 300, "\(report)")

                // The load test's chaos names nodes as `cluster nodes` does, without the host.
                try await hosts.require(["stop", "--name", "parcelflow-n3"])
                #expect(try await hosts.script(["cluster", "status"]).status == 1)
                let started = try await hosts.script(["start", "--name", "parcelflow-n3"])
                #expect(started.status == 0 && started.lines.last == "amqp://guest:guest@10.215.0.13:5672/%2f", "\(started.errors)")
                #expect(try await hosts.script(["cluster", "status"]).status == 0)
                #expect(try await hosts.script(["cluster", "leaders"]).status == 0)

                try await hosts.require(["down"])
                #expect(try await hosts.leftovers() == [])
                let beams = try await runChild(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-fa", "beam.smp"])
                // (A node's name is not on its command line; the address its distribution listens on is.)
                #expect(beams.lines.filter { $0.contains("inet_dist_use_interface {10,215,0,") } == [])
            }
        }

        @Test("the node leading most stage queues isolated for 20 s under 2,000 parcels with 5 % faults: none lost, none applied twice, the wait measured, nothing of the hosts left",
              .timeLimit(.minutes(3)))
        func leaderIsolated() async throws {
            let parcelctl = try #require(builtProduct("parcelctl"), "parcelctl is not built next to the tests: swift build --build-tests first")
            let hosts = NetnsHosts(prefix: "pftp")
            try await hosts.requireClean()
            let run = try await TestCluster.exclusive {
                try await runChild(URL(fileURLWithPath: "/bin/bash"),
                                   [repositoryRoot.appendingPathComponent("deploy/local/partitions.sh").path, "leader-isolated"],
                                   environment: hosts.environment.merging(["PF_PARCELCTL": parcelctl.path]) { $1 })
            }
            // partitions.sh takes its hosts down on every way out: nothing is left, pass or fail.
            #expect(try await hosts.leftovers() == [])
            let beams = try await runChild(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-fa", "beam.smp"])
            #expect(beams.lines.filter { $0.contains("inet_dist_use_interface {10,215,0,") } == [])

            #expect(run.status == 0, "\(run.output)\n\(run.errors.suffix(3000))")
            let line = try #require(run.lines.last, "partitions.sh printed nothing: \(run.errors.suffix(3000))")
            let verdict = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect(verdict["scenario"] as? String == "leader-isolated")
            #expect(verdict["ok"] as? Bool == true, "\(verdict["violations"] ?? "")")
            #expect(verdict["lost"] as? Int == 0 && verdict["applied_twice"] as? Int == 0, "\(line)")
            #expect(verdict["parcels"] as? Int == 2000, "\(line)")
            // The cut cost time, and it was measured: some parcel waited across it, and the probe
            // went without a confirm while its queue's leader was cut off.
            #expect((verdict["recovery_seconds"] as? Double ?? 0) >= 1, "\(line)")
            #expect((verdict["probe_recovery_seconds"] as? Double ?? 0) >= 1, "\(line)")
            #expect(verdict["redelivered"] is Int, "\(line)")
        }
    }
}
