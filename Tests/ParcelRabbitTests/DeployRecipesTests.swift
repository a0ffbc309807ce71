import Foundation
import ParcelTestSupport
import ParcelWorkerRuntime
import Testing

/// The recipes ops deploy with — deploy/systemd and deploy/k8s — checked by the tools ops would use
/// (systemd-analyze; kubernetes-validate and KEDA's CRD schema through deploy/k8s/validate.py) and
/// against the built programs. Every check is also shown failing on a copy broken on purpose.
/// Serialized: a dozen Python validators at once would crowd the timing tests of other suites.
@Suite("Deployment recipes: systemd unit and Kubernetes manifests", .serialized, .timeLimit(.minutes(2)))
struct DeployRecipesTests {
    static let unitPath = repositoryRoot.appendingPathComponent("deploy/systemd/parcel-worker@.service")
    static let k8s = repositoryRoot.appendingPathComponent("deploy/k8s")

    static func unitText() throws -> String { try String(contentsOf: unitPath, encoding: .utf8) }

    static func systemdAnalyze() throws -> URL {
        try Tools.required(Tools.systemdAnalyze, "install Debian's systemd package (deploy/local/lib.sh's pf_install_deps does)")
    }

    static func builtProgram(_ name: String) throws -> URL {
        try #require(builtProduct(name), "\(name) is not built next to the tests: swift build --build-tests first")
    }

    /// The unit, with `change` applied and ExecStart pointed at the built worker (systemd-analyze verify
    /// wants an executable there), as parcel-worker@.service in a folder of its own.
    static func unitCopy(_ change: (String) -> String = { $0 }) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parcelflow-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let text = change(try unitText()).replacingOccurrences(of: "ExecStart=/usr/local/bin/parcel-worker",
                                                               with: "ExecStart=\(try builtProgram("parcel-worker").path)")
        try text.write(to: folder.appendingPathComponent("parcel-worker@.service"), atomically: true, encoding: .utf8)
        return folder
    }

    /// systemd-analyze verify on the instance parcel-worker@1 of the unit in `folder`: the lines that
    /// speak of our unit (verify warns and still exits 0, so any such line is a failure), and its status.
    static func verify(_ folder: URL) async throws -> (complaints: [String], status: Int32, output: String) {
        let exit = try await runChild(try systemdAnalyze(), ["verify", folder.appendingPathComponent("parcel-worker@1.service").path])
        let output = exit.output + exit.errors
        let complaints = output.split(separator: "\n").map(String.init).filter { $0.contains("parcel-worker@") }
        return (complaints, exit.status, output)
    }

    // MARK: systemd

    @Test("systemd-analyze verify accepts parcel-worker@1 with not one warning about the unit")
    func unitVerifies() async throws {
        let folder = try Self.unitCopy()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try await Self.verify(folder)
        #expect(result.status == 0 && result.complaints.isEmpty, "systemd-analyze verify:\n\(result.output)")

        // Broken on purpose: an unknown key and a wrong signal only warn (exit 0); the test sees them.
        let broken = try Self.unitCopy { $0.replacingOccurrences(of: "KillSignal=SIGTERM", with: "KillSignal=SIGTREM\nRestartSecs=2") }
        defer { try? FileManager.default.removeItem(at: broken) }
        let complaints = try await Self.verify(broken).complaints
        #expect(complaints.contains { $0.contains("SIGTREM") } && complaints.contains { $0.contains("RestartSecs") }, "\(complaints)")
    }

    @Test("systemd-analyze security rates the sandbox 2.0 or better (10 is none)")
    func unitSandboxExposure() async throws {
        func exposure(_ folder: URL) async throws -> Double {
            let exit = try await runChild(try Self.systemdAnalyze(),
                                          ["security", "--offline=yes", folder.appendingPathComponent("parcel-worker@1.service").path])
            let line = try #require((exit.output + exit.errors).split(separator: "\n").first { $0.contains("Overall exposure level") },
                                    "systemd-analyze security: \(exit.output)\(exit.errors)")
            let words = line.split(separator: " ")
            return try #require(words.firstIndex { $0.hasSuffix(":") && $0.contains("parcel-worker@1") }
                .flatMap { Double(words[words.index(after: $0)]) }, "\(line)")
        }
        let folder = try Self.unitCopy()
        defer { try? FileManager.default.removeItem(at: folder) }
        let shipped = try await exposure(folder)
        #expect(shipped <= 2.0, "exposure \(shipped)")

        // Broken on purpose: without the sandbox's lines the rating is far worse.
        let bare = try Self.unitCopy { text in
            text.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !["DynamicUser", "Protect", "Private", "Restrict", "SystemCall", "CapabilityBoundingSet", "NoNewPrivileges"]
                    .contains(where: $0.hasPrefix) }
                .joined(separator: "\n")
        }
        defer { try? FileManager.default.removeItem(at: bare) }
        let unsandboxed = try await exposure(bare)
        #expect(unsandboxed > 2.0, "exposure without the sandbox: \(unsandboxed)")
    }

    @Test("the unit drains: SIGTERM, TimeoutStopSec above --shutdown-timeout, restart on failure, sandboxed")
    func unitSettings() throws {
        #expect(UnitRules.problems(UnitFile(try Self.unitText())) == [])
    }

    @Test("each of the unit's settings, broken on purpose, is caught", arguments: [
        ("TimeoutStopSec=45", "TimeoutStopSec=20", "TimeoutStopSec"),
        ("--shutdown-timeout 30", "--shutdown-timeout 60", "TimeoutStopSec"),
        ("Restart=on-failure", "Restart=no", "Restart"),
        ("KillSignal=SIGTERM", "KillSignal=SIGKILL", "KillSignal"),
        ("NoNewPrivileges=yes\n", "", "NoNewPrivileges"),
        ("DynamicUser=yes", "DynamicUser=no", "DynamicUser"),
        ("ProtectSystem=strict", "ProtectSystem=full", "ProtectSystem"),
        ("CapabilityBoundingSet=\n", "CapabilityBoundingSet=CAP_NET_ADMIN\n", "CapabilityBoundingSet"),
        ("AF_INET AF_INET6 AF_UNIX", "AF_INET AF_INET6 AF_UNIX AF_PACKET", "RestrictAddressFamilies"),
        ("SystemCallFilter=@system-service\n", "", "SystemCallFilter"),
        ("MemoryMax=128M\n", "", "MemoryMax"),
    ])
    func unitSettingBroken(_ original: String, _ replacement: String, _ named: String) throws {
        let text = try Self.unitText()
        let says = text.contains(original)
        try #require(says, "the unit no longer says \(original): change this test with it")
        let problems = UnitRules.problems(UnitFile(text.replacingOccurrences(of: original, with: replacement)))
        #expect(problems.contains { $0.contains(named) }, "\(problems)")
    }

    @Test("the unit's command line is one the built parcel-worker takes")
    func unitFlagsParse() async throws {
        let command = UnitFile(try Self.unitText()).value("ExecStart")?.split(separator: " ").map(String.init) ?? []
        try await Self.expectWorkerTakes(Array(command.dropFirst()))
    }

    /// Runs the built worker with `arguments` and --check against a port nobody listens on: a
    /// "connection refused" proves every flag parsed (an unknown one exits 64 with its name).
    static func expectWorkerTakes(_ arguments: [String]) async throws {
        let url = "amqp://parcelflow:secret@127.0.0.1:\(try freePort())/%2f"
        let exit = try await runChild(try builtProgram("parcel-worker"), arguments + ["--check", "--url", url, "--connect-timeout", "5"])
        #expect(exit.status == 1 && exit.errors.contains("connection refused"),
                "parcel-worker \(arguments.joined(separator: " ")): exit \(exit.status): \(exit.errors)")
    }

    // MARK: Kubernetes

    static func python() async throws -> URL {
        let python = try Tools.required(Tools.pythonTools.appendingPathComponent("python"),
                                        "run deploy/local/test.sh, whose pf_python_tools makes .local/venv (or set PARCELFLOW_PYTHON_TOOLS)")
        let probe = try await runChild(python, ["-c", "import kubernetes_validate, jsonschema, yaml"])
        try #require(probe.status == 0, "\(python.path) lacks kubernetes-validate or jsonschema: \(probe.errors)")
        return python
    }

    static func validate(_ arguments: [String] = []) async throws -> ChildExit {
        try await runChild(try await python(), [k8s.appendingPathComponent("validate.py").path] + arguments)
    }

    /// The manifests as validate.py reads them: (file, object).
    static func manifests() async throws -> [(file: String, object: [String: Any])] {
        let exit = try await validate(["--dump"])
        try #require(exit.status == 0, "validate.py --dump: \(exit.errors)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(exit.output.utf8)) as? [[String: Any]])
        return entries.compactMap { entry in
            guard let file = entry["file"] as? String, let object = entry["document"] as? [String: Any] else { return nil }
            return (file, object)
        }
    }

    static func object(_ kind: String, _ name: String, in manifests: [(file: String, object: [String: Any])]) throws -> [String: Any] {
        try #require(manifests.first {
            $0.object["kind"] as? String == kind && ($0.object["metadata"] as? [String: Any])?["name"] as? String == name
        }?.object, "no \(kind)/\(name) in deploy/k8s")
    }

    @Test("validate.py passes every manifest: Kubernetes' schemas (strict), KEDA's CRD schema, and the cross-checks")
    func manifestsValidate() async throws {
        let exit = try await Self.validate()
        #expect(exit.status == 0, "deploy/k8s/validate.py:\n\(exit.output)\(exit.errors)")
        #expect(exit.output.contains(", 0 cross-check problems"), "\(exit.output)")
    }

    @Test("validate.py refuses manifests broken on purpose", arguments: [
        ("worker-deployment.yaml", "      terminationGracePeriodSeconds: 45\n",
         "      terminationGracePeriodSeconds: 45\n      restartPolicyy: Always\n", "'restartPolicyy' was unexpected"),
        ("keda-scaledobject.yaml", "  pollingInterval: 15\n", "  pollingInterval: 15\n  pollingIntervall: 15\n",
         "'pollingIntervall' was unexpected"),
        ("keda-scaledobject.yaml", "  minReplicaCount: 1\n", "  minReplicaCount: 9\n", "minReplicaCount must be less than or equal"),
        ("keda-scaledobject.yaml", "useRegex: \"true\"", "useRegex: true", "is not of type 'string'"),
        ("keda-scaledobject.yaml", "protocol: http", "protocol: amqp", "protocol must be http"),
        ("keda-scaledobject.yaml", "excludeUnacknowledged: \"false\"", "excludeUnacknowledged: \"true\"", "excludeUnacknowledged must stay false"),
        ("keda-scaledobject.yaml", "queueName: ^parcelflow", "queueName: parcelflow", "queueName also matches test.parcelflow"),
        ("keda-scaledobject.yaml", "|inspection|delivery)$", "|inspection)$", "do not count parcelflow.delivery"),
        ("keda-scaledobject.yaml", "    name: parcel-worker\n  # At least", "    name: parcel-workers\n  # At least", "no Deployment of these manifests"),
        ("worker-deployment.yaml", "  revisionHistoryLimit: 3\n", "  replicas: 2\n  revisionHistoryLimit: 3\n", "sets spec.replicas"),
        ("worker-deployment.yaml", "key: worker-amqp-url", "key: worker-amqp-urls", "which these manifests do not define"),
        ("worker-deployment.yaml", "name: parcelflow-inspection-rules", "name: parcelflow-rules", "mounts config map 'parcelflow-rules'"),
        ("worker-deployment.yaml", "- key: inspection-rules.json", "- key: rules.json", "config map 'parcelflow-inspection-rules' does not have"),
    ])
    func manifestsBroken(_ file: String, _ original: String, _ replacement: String, _ expected: String) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parcelflow-k8s-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.k8s.path) where name.hasSuffix(".yaml") {
            var text = try String(contentsOf: Self.k8s.appendingPathComponent(name), encoding: .utf8)
            if name == file {
                let says = text.contains(original)
                try #require(says, "\(file) no longer says \(original): change this test with it")
                text = text.replacingOccurrences(of: original, with: replacement)
            }
            try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let exit = try await Self.validate(["--dir", folder.path, "--kubernetes-version", "1.37"])
        #expect(exit.status == 1 && exit.output.contains(expected), "exit \(exit.status):\n\(exit.output)\(exit.errors)")
    }

    @Test("the worker's grace period exceeds its --shutdown-timeout, its probes ask /ready and /health, and it runs locked down")
    func workerDeployment() async throws {
        let worker = try Self.object("Deployment", "parcel-worker", in: try await Self.manifests())
        #expect(WorkerManifestRules.problems(worker) == [])

        // Broken on purpose, one at a time.
        func broken(_ change: (inout [String: Any], inout [String: Any]) -> Void) -> [String] {
            var copy = worker
            var spec = copy["spec"] as! [String: Any], template = spec["template"] as! [String: Any]
            var pod = template["spec"] as! [String: Any]
            var containers = pod["containers"] as! [[String: Any]]
            change(&pod, &containers[0])
            pod["containers"] = containers
            template["spec"] = pod
            spec["template"] = template
            copy["spec"] = spec
            return WorkerManifestRules.problems(copy)
        }
        #expect(broken { pod, _ in pod["terminationGracePeriodSeconds"] = 30 }.contains { $0.contains("terminationGracePeriodSeconds") })
        #expect(broken { _, container in
            container["args"] = (container["args"] as! [String]).map { $0 == "30" ? "50" : $0 }
        }.contains { $0.contains("terminationGracePeriodSeconds") })
        #expect(broken { _, container in
            container["readinessProbe"] = ["httpGet": ["path": "/health", "port": "metrics"]]
        }.contains { $0.contains("readinessProbe must GET /ready") })
        #expect(broken { _, container in
            container["livenessProbe"] = ["httpGet": ["path": "/health", "port": 8080]]
        }.contains { $0.contains("livenessProbe must ask the metrics port") })
        #expect(broken { _, container in
            container["args"] = (container["args"] as! [String]).map { $0 == "0.0.0.0" ? "127.0.0.1" : $0 }
        }.contains { $0.contains("--metrics-host") })
        #expect(broken { _, container in
            var security = container["securityContext"] as! [String: Any]
            security["readOnlyRootFilesystem"] = false
            container["securityContext"] = security
        }.contains { $0.contains("readOnlyRootFilesystem") })
    }

    @Test("the manifests' command lines are ones the built parcel-worker and parcelctl take")
    func manifestFlagsParse() async throws {
        let manifests = try await Self.manifests()
        func container(_ name: String) throws -> [String: Any] {
            let deployment = try Self.object("Deployment", name, in: manifests)
            let pod = ((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]
            return try #require((pod?["containers"] as? [[String: Any]])?.first)
        }
        let worker = try container("parcel-worker")
        #expect((worker["command"] as? [String]) == ["/usr/local/bin/parcel-worker"])
        try await Self.expectWorkerTakes(worker["args"] as? [String] ?? [])

        // The dashboard opens its store first: one nobody listens for fails after the flags parsed.
        let dashboard = try container("parcelflow-dashboard")
        #expect((dashboard["command"] as? [String]) == ["/usr/local/bin/parcelctl"])
        let arguments = dashboard["args"] as? [String] ?? []
        let exit = try await runChild(try Self.builtProgram("parcelctl"), arguments, environment: [
            "PARCELFLOW_STORE": "postgres://parcelflow@127.0.0.1:\(try freePort())/parcelflow",
            "PARCELFLOW_STORE_PASSWORD": "secret", "PARCELFLOW_DASHBOARD_TOKEN": "a-token"])
        #expect(exit.status == 1 && exit.errors.contains("status store"),
                "parcelctl \(arguments.joined(separator: " ")): exit \(exit.status): \(exit.errors)")
    }

    @Test("the handlers both recipes choose parse, and the rules they install are the example file, which the worker's checks pass")
    func recipeHandlers() async throws {
        let example = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/handlers/inspection-rules.json"), encoding: .utf8)
        func choice(_ words: String) throws -> HandlerChoice {
            try HandlerChoice(parsing: words.split(whereSeparator: \.isWhitespace).map(String.init), source: "PARCELFLOW_HANDLERS")
        }

        // Kubernetes: the settings name a file in the volume the worker mounts from the rules ConfigMap.
        let manifests = try await Self.manifests()
        let settings = try #require(try Self.object("ConfigMap", "parcelflow-settings", in: manifests)["data"] as? [String: String])
        let k8s = try choice(try #require(settings["PARCELFLOW_HANDLERS"]))
        guard case .rules(let path) = k8s[.inspection], case .http(let url) = k8s[.delivery] else {
            Issue.record("deploy/k8s: inspection is \(k8s[.inspection]), delivery \(k8s[.delivery])")
            return
        }
        #expect(url.hasPrefix("https://"))
        let deployment = try Self.object("Deployment", "parcel-worker", in: manifests)
        let pod = try #require(((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let mounts = try #require((pod["containers"] as? [[String: Any]])?.first?["volumeMounts"] as? [[String: Any]])
        let volumes = try #require(pod["volumes"] as? [[String: Any]])
        let mounted = mounts.compactMap { mount -> (path: String, volume: [String: Any])? in
            guard let at = mount["mountPath"] as? String, let volume = volumes.first(where: { $0["name"] as? String == mount["name"] as? String }),
                  path.hasPrefix(at + "/") else { return nil }
            return (String(path.dropFirst(at.count + 1)), volume)
        }.first
        let configMap = try #require(mounted?.volume["configMap"] as? [String: Any], "no ConfigMap volume holds \(path)")
        let item = try #require((configMap["items"] as? [[String: Any]])?.first { $0["path"] as? String == mounted?.path })
        let data = try #require(try Self.object("ConfigMap", configMap["name"] as? String ?? "", in: manifests)["data"] as? [String: String])
        let rules = try #require(data[item["key"] as? String ?? ""])
        #expect(rules == example, "deploy/k8s/inspection-rules.yaml differs from deploy/handlers/inspection-rules.json")
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("parcelflow-rules-\(UUID().uuidString).json")
        try rules.write(to: copy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: copy) }
        let check = try await runChild(try Self.builtProgram("parcelctl"), ["rules", "check", copy.path])
        #expect(check.status == 0, "parcelctl rules check: \(check.output)\(check.errors)")

        // systemd: worker.env names the file the README installs.
        let env = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/systemd/worker.env.example"), encoding: .utf8)
        let line = try #require(env.split(separator: "\n").first { $0.hasPrefix("PARCELFLOW_HANDLERS=") })
        let words = line.dropFirst("PARCELFLOW_HANDLERS=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        let systemd = try choice(words)
        guard case .rules(let installed) = systemd[.inspection], case .http = systemd[.delivery] else {
            Issue.record("deploy/systemd: inspection is \(systemd[.inspection]), delivery \(systemd[.delivery])")
            return
        }
        let readme = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/systemd/README.md"), encoding: .utf8)
        let folder = (installed as NSString).deletingLastPathComponent
        #expect(installed.hasSuffix("/inspection-rules.json") && readme.contains("deploy/handlers/inspection-rules.json \(folder)/"),
                "deploy/systemd/README.md does not install the rules at \(installed)")
    }

    @Test("every PARCELFLOW_ variable the recipes set is one the programs read")
    func recipeVariablesExist() throws {
        let pattern = try NSRegularExpression(pattern: "PARCELFLOW_[A-Z0-9_]+")
        func names(_ text: String) -> Set<String> {
            Set(pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
                Range($0.range, in: text).map { String(text[$0]) }
            })
        }
        var read = Set<String>()
        let sources = repositoryRoot.appendingPathComponent("Sources")
        let files = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        for case let file as URL in files where file.pathExtension == "swift" {
            read.formUnion(names(try String(contentsOf: file, encoding: .utf8)))
        }
        var recipes: [URL] = [Self.unitPath, repositoryRoot.appendingPathComponent("deploy/systemd/worker.env.example")]
        recipes += try FileManager.default.contentsOfDirectory(atPath: Self.k8s.path).filter { $0.hasSuffix(".yaml") }
            .map { Self.k8s.appendingPathComponent($0) }
        var used = Set<String>()
        for file in recipes {
            let found = names(try String(contentsOf: file, encoding: .utf8))
            #expect(found.isSubset(of: read), "\(file.lastPathComponent) sets \(found.subtracting(read).sorted()), which no program reads")
            used.formUnion(found)
        }
        #expect(used.isSuperset(of: ["PARCELFLOW_AMQP_URL", "PARCELFLOW_STORE", "PARCELFLOW_STORE_PASSWORD_FILE",
                                     "PARCELFLOW_METRICS_PORT", "PARCELFLOW_DASHBOARD_TOKEN"]), "\(used.sorted())")
    }
}
