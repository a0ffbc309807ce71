import Foundation
import ParcelCore
import ParcelRabbit
import ParcelStoreSQLite
import ParcelTestSupport
import Testing

/// The real tools ops use: Debian's Prometheus, promtool and Chromium (installed by deploy/local/lib.sh).
enum Tools {
    static func path(_ variable: String, _ fallback: String) -> URL {
        URL(fileURLWithPath: ProcessInfo.processInfo.environment[variable] ?? fallback)
    }
    static var prometheus: URL { path("PARCELFLOW_PROMETHEUS", "/usr/bin/prometheus") }
    static var promtool: URL { path("PARCELFLOW_PROMTOOL", "/usr/bin/promtool") }
    static var chromium: URL { path("PARCELFLOW_CHROMIUM", "/usr/bin/chromium") }
}

/// A worker with its metrics endpoint, over a fixture's namespace and store.
struct ObservedWorker {
    let process: WorkerProcess
    let port: Int

    init(_ fixture: SubmitFixture, name: String, arguments: [String] = [], url: String = Broker.url) async throws {
        port = try freePort()
        process = try WorkerProcess(fixture, arguments: ["--metrics-port", "\(port)", "--target", "2000"] + arguments, name: name,
                                    url: url)
        let port = self.port
        let ready = try await eventually(timeout: .seconds(20)) { try await httpGet("http://127.0.0.1:\(port)/ready").status == 200 }
        try #require(ready, "the worker never said /ready: \(process.output)")
    }

    func metrics() async throws -> String {
        let (status, body) = try await httpGet("http://127.0.0.1:\(port)/metrics")
        try #require(status == 200, "GET /metrics: \(status) \(body)")
        return body
    }

    /// The sum of one metric's samples whose labels include all of `labels`.
    static func sum(_ exposition: String, _ name: String, _ labels: [String: String] = [:]) -> Double {
        var total = 0.0
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            let metric = series.prefix { $0 != "{" }
            guard metric == name else { continue }
            if labels.allSatisfy({ series.contains("\($0.key)=\"\($0.value)\"") }) { total += value }
        }
        return total
    }
}

/// `parcelctl dashboard` over a fixture's namespace and store, and the address it said it listens on.
struct DashboardProcess {
    let process: BackgroundProcess
    let address: String
    var port: Int { Int(address.split(separator: ":").last?.prefix { $0.isNumber } ?? "") ?? 0 }

    init(_ fixture: SubmitFixture, _ arguments: [String]) async throws {
        process = try BackgroundProcess(URL(fileURLWithPath: Parcelctl.binary), ["dashboard", "--port", "0"] + arguments,
                                        environment: fixture.cli().environment,
                                        log: fixture.directory.appendingPathComponent("dashboard.log"))
        var address = ""
        let process = self.process
        let listening = try await eventually(timeout: .seconds(20)) {
            guard let line = process.output.split(separator: "\n").first(where: { $0.hasPrefix("Dashboard on ") }) else { return false }
            address = String(line.dropFirst("Dashboard on ".count).prefix { $0 != " " })
            return true
        }
        try #require(listening, "the dashboard did not start: \(process.output)")
        self.address = address
    }
}

extension SubmitFixture {
    /// parcelctl on this fixture's broker, namespace and store.
    func cli(url: String = Broker.url) -> Parcelctl {
        Parcelctl(environment: ["PARCELFLOW_AMQP_URL": url, "PARCELFLOW_STORE": "sqlite:\(storePath)",
                                "PARCELFLOW_NAMESPACE": topology.namespace])
    }

    func waitUntilFinal(_ count: Int, timeout: Duration = .seconds(60)) async throws {
        let finished = try await eventually(timeout: timeout) {
            ParcelStatus.State.finalCount(try await statesCount()) == count
        }
        let counts = try await statesCount()
        try #require(finished, "not every parcel ended final: \(counts)")
    }

    func reportJSON() async throws -> [String: Any] {
        let result = try await cli().run(["report", "--json", "--target", "2000"])
        try #require(result.status == 0, "report --json: \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }
}

@Suite("Observability: metrics, Prometheus, report and dashboard", .serialized)
struct ObservabilityTests {
    @Test("promtool accepts the shipped scrape configuration and alert rules, and the rules' unit tests pass")
    func shippedPrometheusFilesPass() async throws {
        let folder = repositoryRoot.appendingPathComponent("deploy/prometheus")
        for arguments in [["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]] {
            let exit = try await runChild(Tools.promtool, arguments.dropLast() + [folder.appendingPathComponent(arguments.last!).path])
            #expect(exit.status == 0, "promtool \(arguments.joined(separator: " ")): \(exit.output)\(exit.errors)")
        }
        let grafana = try Data(contentsOf: repositoryRoot.appendingPathComponent("deploy/grafana/parcelflow.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: grafana) as? [String: Any])
        #expect((dashboard["panels"] as? [Any])?.isEmpty == false)
    }

    @Test("a worker whose metrics port is taken says so and exits, instead of working unobserved", .timeLimit(.minutes(1)))
    func metricsPortTaken() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        let taken = try bindToLoopback(fd, listen: true)
        let worker = try WorkerProcess(fixture, arguments: ["--metrics-port", "\(taken)"], name: "worker")
        let status = await worker.exitStatus(timeout: .seconds(20))
        #expect(status != nil && status != 0, "the worker kept running: \(worker.output)")
        #expect(worker.output.contains("--metrics-port \(taken): cannot listen on 127.0.0.1:\(taken)"), "\(worker.output)")
        try await fixture.tearDown()
    }

    @Test("the dashboard refuses to listen beyond loopback without a token, and then answers only with it",
          .timeLimit(.minutes(1)))
    func dashboardTokenOffLoopback() async throws {
        let fixture = try SubmitFixture()
        try await fixture.declare()
        let refused = try await fixture.cli().run(["dashboard", "--host", "0.0.0.0", "--port", "0"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("needs --token"), "\(refused.stderr)")

        let dashboard = try await DashboardProcess(fixture, ["--host", "0.0.0.0", "--token", "s3cret"])
        let port = dashboard.port
        #expect(try await httpGet("http://127.0.0.1:\(port)/api/report").status == 401)
        #expect(try await httpGet("http://127.0.0.1:\(port)/?token=wrong").status == 401)
        // The right token in the query sets a cookie and redirects; DashboardSecurityTests follows it.
        #expect(try await httpGet("http://127.0.0.1:\(port)/?token=s3cret").status == 303)
        let page = try await HTTPExchange.get("http://127.0.0.1:\(port)/", headers: ["Authorization: Bearer s3cret"])
        #expect(page.status == 200 && page.body.contains("<html"))
        let report = try await HTTPExchange.get("http://127.0.0.1:\(port)/api/report", headers: ["Authorization: Bearer s3cret"])
        #expect(report.status == 200 && report.body.contains("\"generated_at\""))
        await dashboard.process.stop()
        try await fixture.tearDown()
    }

    @Test("a real Prometheus scrapes a worker and reads back how many parcels it delivered; its /metrics passes promtool",
          .timeLimit(.minutes(3)))
    func prometheusScrapesAWorker() async throws {
        let fixture = try SubmitFixture.withMillisecondRetries()
        try await fixture.declare()
        let worker = try await ObservedWorker(fixture, name: "worker")
        let parcels = SubmitFixture.parcels(40, prefix: "PROM")
        try await fixture.submitWithLibrary(parcels)
        try await fixture.waitUntilFinal(parcels.count)

        let live = try await worker.metrics()
        let lint = try await runChild(Tools.promtool, ["check", "metrics"], stdin: Data(live.utf8))
        #expect(lint.status == 0, "promtool check metrics on a live /metrics: \(lint.output)\(lint.errors)")

        let prometheusPort = try freePort()
        let config = fixture.directory.appendingPathComponent("prometheus.yml")
        try Data("""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - \(repositoryRoot.appendingPathComponent("deploy/prometheus/alerts.yml").path)
            scrape_configs:
              - job_name: parcelflow-workers
                static_configs:
                  - targets: ["127.0.0.1:\(worker.port)"]

            """.utf8).write(to: config)
        let prometheus = try BackgroundProcess(Tools.prometheus, [
            "--config.file=\(config.path)", "--storage.tsdb.path=\(fixture.directory.appendingPathComponent("tsdb").path)",
            "--web.listen-address=127.0.0.1:\(prometheusPort)",
        ], log: fixture.directory.appendingPathComponent("prometheus.log"))

        func query(_ promql: String) async throws -> Double? {
            let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? promql
            let (status, body) = try await httpGet("http://127.0.0.1:\(prometheusPort)/api/v1/query?query=\(encoded)")
            guard status == 200, let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                  let data = json["data"] as? [String: Any], let result = (data["result"] as? [[String: Any]])?.first,
                  let value = result["value"] as? [Any], let text = value.last as? String
            else { return nil }
            return Double(text)
        }
        let delivered = "sum(parcelflow_tasks_total{stage=\"delivery\",outcome=\"succeeded\"})"
        let scraped = try await eventually(timeout: .seconds(60)) { try await query(delivered) == Double(parcels.count) }
        let read = try await query(delivered)
        #expect(scraped, "Prometheus read \(String(describing: read)) deliveries; log: \(prometheus.output.suffix(2000))")
        #expect(try await query("parcelflow_period_delivered") == Double(parcels.count))
        #expect(try await query("parcelflow_period_target") == 2000)
        #expect(try await query("up{job=\"parcelflow-workers\"}") == 1)
        #expect(try await query("max(parcelflow_queue_consumers{queue=\"\(fixture.topology.stageQueue(.collection))\"})") == 1)
        let rules = try await httpGet("http://127.0.0.1:\(prometheusPort)/api/v1/rules")
        #expect(rules.body.contains("ParcelFlowBehindTarget") && rules.body.contains("ParcelFlowWorkerDown"),
                "the alert rules were not loaded: \(rules.body.prefix(500))")

        await prometheus.stop()
        await worker.process.stop()
        try await fixture.tearDown()
    }

    @Test("after 200 parcels with injected faults the metrics, the report and the store agree, and Chromium shows the report's numbers",
          .timeLimit(.minutes(3)))
    func metricsReportStoreAndDashboardAgree() async throws {
        let fixture = try SubmitFixture.withMillisecondRetries()
        try await fixture.declare()
        let worker = try await ObservedWorker(fixture, name: "worker", arguments: [
            "--transient-rate", "0.1", "--permanent-rate", "0.03", "--hold-rate", "0.1", "--max-attempts", "3",
        ])
        let parcels = SubmitFixture.parcels(200, prefix: "DASH")
        try await fixture.submitWithLibrary(parcels)
        try await fixture.waitUntilFinal(parcels.count)
        let store = try await fixture.statesCount()
        let (delivered, held, dead) = (store[.delivered] ?? 0, store[.held] ?? 0, store[.deadLettered] ?? 0)
        #expect(delivered + held + dead == 200)
        #expect(held > 0 && dead > 0, "the faults should have held and dead-lettered some parcels: \(store)")

        // The metrics: a task counts once it is acknowledged, a moment after the store has it.
        var exposition = ""
        let agreed = try await eventually(timeout: .seconds(15)) {
            exposition = try await worker.metrics()
            return ObservedWorker.sum(exposition, ParcelMetrics.tasks, ["stage": "delivery", "outcome": "succeeded"]) == Double(delivered)
                && ObservedWorker.sum(exposition, ParcelMetrics.tasks, ["outcome": "held"]) == Double(held)
                && ObservedWorker.sum(exposition, ParcelMetrics.tasks, ["outcome": "dead_lettered"]) == Double(dead)
                && ObservedWorker.sum(exposition, ParcelMetrics.queueMessages, ["queue": fixture.topology.deadQueue]) == Double(dead)
        }
        #expect(agreed, "metrics and store disagree; store \(store); metrics:\n\(exposition.split(separator: "\n").filter { $0.hasPrefix("parcelflow_tasks_total") || $0.contains(".dead") }.joined(separator: "\n"))")
        #expect(ObservedWorker.sum(exposition, ParcelMetrics.parcelLatency + "_count") == Double(delivered))
        #expect(ObservedWorker.sum(exposition, ParcelMetrics.tasks, ["outcome": "retried"]) > 0)

        // The report.
        let report = try await fixture.reportJSON()
        #expect(report["delivered"] as? Int == delivered)
        #expect(report["held"] as? Int == held)
        #expect(report["dead_lettered"] as? Int == dead)
        #expect(report["parcels"] as? Int == 200)
        let target = try #require(report["target"] as? [String: Any])
        #expect(target["delivered"] as? Int == delivered)
        #expect(target["parcels"] as? Int == 2000)
        #expect(abs((target["progress"] as? Double ?? -1) - Double(delivered) / 2000) < 0.0001)
        #expect((report["dead_letter_queue"] as? [String: Any])?["messages"] as? Int == dead)
        let stages = try #require(report["stages"] as? [[String: Any]])
        #expect(stages.map { $0["stage"] as? String } == Stage.allCases.map(\.rawValue))
        #expect(stages.first?["entered"] as? Int == 200)
        #expect(stages.last?["completed"] as? Int == delivered)
        #expect(stages.reduce(0) { $0 + ($1["dead_lettered"] as? Int ?? 0) } == dead)
        #expect(((report["end_to_end_ms"] as? [String: Any])?["count"] as? Int) == delivered)

        // The dashboard, rendered by a real browser, against the report taken right after.
        let dashboard = try await DashboardProcess(fixture, ["--target", "2000"])
        let page = try await runChild(Tools.chromium, [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(fixture.directory.appendingPathComponent("chromium").path)",
            "--virtual-time-budget=5000", "--dump-dom", dashboard.address,
        ])
        let shown = try await fixture.reportJSON()
        await dashboard.process.stop()
        try #require(page.output.contains("data-state=\"ready\""), "the page did not render: \(page.output.prefix(800)) \(page.errors.suffix(800))")
        let fields = DashboardFields(page.output)
        #expect(fields.values.count >= 60, "only \(fields.values.count) numbers found on the page")
        for required in ["target.delivered", "target.parcels", "target.progress", "target.forecast", "delivered", "held",
                         "dead_lettered", "stages.0.entered", "stages.3.completed", "end_to_end_ms.p95", "dead_letter_queue.messages"] {
            #expect(fields.values[required] != nil, "the page does not show \(required)")
        }
        for (path, rendered) in fields.values {
            guard let expected = DashboardFields.lookup(path, in: shown) else {
                Issue.record("the page shows \(path), which the report does not have")
                continue
            }
            // Rates and times move between the page's fetch and the report: allow 2 %.
            let moving = ["rate_per_day", "needed_per_day", "projected", "behind_days", "elapsed_days", "remaining_days", "oldest_waiting"]
            if moving.contains(where: path.contains), let a = rendered as? Double, let b = expected as? Double {
                #expect(abs(a - b) <= max(0.02 * abs(b), 0.01), "\(path): page \(a), report \(b)")
            } else {
                #expect(DashboardFields.same(rendered, expected), "\(path): page \(rendered), report \(expected)")
            }
        }
        await worker.process.stop()
        try await fixture.tearDown()
    }
}

/// The numbers a dashboard page rendered: each element's `data-field` (a path into the report) and
/// `data-value` (the value, as JSON).
struct DashboardFields {
    var values: [String: Any] = [:]

    init(_ page: String) {
        // The page's own script builds such attributes too; only the rendered elements count.
        let html = page.replacingOccurrences(of: #"<script[\s\S]*?</script>"#, with: "", options: .regularExpression)
        let pattern = try! NSRegularExpression(pattern: #"data-field="([^"]+)"[^>]*?data-value="([^"]*)""#)
        let range = NSRange(html.startIndex..., in: html)
        for match in pattern.matches(in: html, range: range) {
            guard let path = Range(match.range(at: 1), in: html), let value = Range(match.range(at: 2), in: html) else { continue }
            let json = String(html[value]).replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&#39;", with: "'")
                .replacingOccurrences(of: "&amp;", with: "&")
            values[String(html[path])] = (try? JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)) ?? NSNull()
        }
    }

    /// `stages.2.latency_ms.p95` in a parsed report.
    static func lookup(_ path: String, in object: Any) -> Any? {
        var current: Any? = object
        for key in path.split(separator: ".") {
            if let index = Int(key), let array = current as? [Any] {
                current = index < array.count ? array[index] : nil
            } else {
                guard let dictionary = current as? [String: Any], dictionary.keys.contains(String(key)) else { return nil }
                current = dictionary[String(key)]
            }
        }
        return current
    }

    static func same(_ a: Any, _ b: Any) -> Bool {
        switch (a, b) {
        case (is NSNull, is NSNull): true
        case (let x as NSNumber, let y as NSNumber): x.doubleValue == y.doubleValue
        case (let x as String, let y as String): x == y
        default: false
        }
    }
}
