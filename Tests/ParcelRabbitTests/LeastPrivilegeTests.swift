import AMQP
import Foundation
import ParcelCore
import ParcelRabbit
import ParcelTestSupport
import Testing

/// ParcelFlow's three broker users, made by `deploy/rabbitmq/users.sh` for a test namespace on the
/// suite's node, and the programs run under them: what each may do works, and what it may not the
/// broker refuses with ACCESS_REFUSED (403), its reply text naming the resource and the user.
@Suite("Least privilege on the broker", .serialized)
struct LeastPrivilegeTests {
    @Test("submit as the submitter, work as the worker (retries, dead letters, queue gauges), dlq list/replay/purge and erase as ops",
          .timeLimit(.minutes(3)))
    func programsWorkUnderTheirUsers() async throws {
        var fixture = try SubmitFixture.withMillisecondRetries()
        fixture.topology.namespace = "test.lp.\(UInt32.random(in: 0...UInt32.max))"
        // Passwords from the environment this time (the other test has them generated).
        let given = ["submitter": "s-\(UUID().uuidString)", "worker": "w-\(UUID().uuidString)", "ops": "o-\(UUID().uuidString)"]
        try await BrokerUsers.with(fixture, passwords: given) { users in
            #expect(users.passwords == given)
            let submitter = users.cli(fixture, .submitter), worker = users.cli(fixture, .worker), ops = users.cli(fixture, .ops)
            let parcel = SubmitFixture.parcels(1, prefix: "LP")[0]
            let csv = try fixture.write("parcels.csv", SubmitFixture.csv([parcel]))

            // Before setup: the submitter's passive check of the task exchange says what is missing.
            let early = try await submitter.run(["submit", "--file", csv])
            #expect(early.status != 0)
            #expect(early.stderr.contains("NOT_FOUND - no exchange '\(fixture.topology.tasksExchange)' in vhost '/'"), "\(early.stderr)")
            #expect(early.stderr.contains("run `parcelctl setup` first"), "\(early.stderr)")

            // Setup is the worker's job; ops may not declare.
            let refusedSetup = try await ops.run(["setup"])
            #expect(refusedSetup.status != 0)
            #expect(refusedSetup.stderr.contains(users.refusal(.ops, exchange: fixture.topology.tasksExchange)), "\(refusedSetup.stderr)")
            let setup = try await worker.run(["setup"])
            #expect(setup.status == 0, "\(setup.stderr)")

            // Submitted as the submitter; a worker as the worker fails it transiently twice (one retry
            // through the retry exchange), then dead-letters it.
            let submitted = try await submitter.run(["submit", "--file", csv])
            #expect(submitted.status == 0, "\(submitted.stderr)")
            #expect(submitted.stdout.contains("Queued 1 parcel"), "\(submitted.stdout)")
            let port = try freePort()
            let failing = try WorkerProcess(fixture, arguments: ["--transient-rate", "1", "--max-attempts", "2",
                                                                 "--metrics-port", "\(port)"],
                                            name: "failing-worker", url: users.url(.worker))
            let deadLettered = try await eventually(timeout: .seconds(30)) { try await fixture.statesCount() == [.deadLettered: 1] }
            let afterFailing = try await fixture.statesCount()
            #expect(deadLettered, "\(afterFailing); worker log:\n\(failing.output)")
            // Its queue gauges come from passive declares, which need no permission.
            let gauged = try await eventually(timeout: .seconds(20)) {
                let (status, body) = try await httpGet("http://127.0.0.1:\(port)/metrics")
                return status == 200 && ObservedWorker.sum(body, ParcelMetrics.queueConsumers,
                                                           ["queue": fixture.topology.stageQueue(.collection)]) == 1
                    && ObservedWorker.sum(body, ParcelMetrics.queueMessages, ["queue": fixture.topology.deadQueue]) == 1
            }
            #expect(gauged, "the worker's queue gauges")
            await failing.stop()
            #expect(!failing.output.contains("ACCESS_REFUSED"), "\(failing.output)")
            #expect(!failing.output.contains("lost the broker"), "\(failing.output)")

            // Ops list the letter and replay it; a healthy worker delivers the parcel.
            let list = try await ops.run(["dlq", "list", "--json"])
            #expect(list.status == 0, "\(list.stderr)")
            let listing = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any], "\(list.stdout)")
            #expect(listing["count"] as? Int == 1)
            let letter = try #require((listing["letters"] as? [[String: Any]])?.first, "\(list.stdout)")
            #expect(letter["parcel_id"] as? String == parcel.id)
            #expect(letter["kind"] as? String == "transient" && letter["attempts"] as? Int == 2, "\(letter)")
            let replay = try await ops.run(["dlq", "replay", parcel.id])
            #expect(replay.status == 0, "\(replay.stderr)")
            #expect(replay.stdout.contains("Replayed \(parcel.id): queued again for collection."), "\(replay.stdout)")
            let healthy = try WorkerProcess(fixture, name: "healthy-worker", url: users.url(.worker))
            let delivered = try await eventually(timeout: .seconds(30)) { try await fixture.statesCount() == [.delivered: 1] }
            let afterHealthy = try await fixture.statesCount()
            #expect(delivered, "\(afterHealthy); worker log:\n\(healthy.output)")
            await healthy.stop()
            #expect(!healthy.output.contains("ACCESS_REFUSED"), "\(healthy.output)")
            // Ops erase the delivered parcel: its letters are replaced by anonymous copies published to
            // the dead exchange (one is put there now, as a worker that died before its ack would leave).
            let admin = try await Broker.connect()
            let channel = try await admin.openChannel()
            try await channel.enableConfirms()
            try await channel.publish(AMQPOutboundMessage(
                exchange: fixture.topology.deadExchange, routingKey: "collection",
                body: TaskEnvelope(parcel: parcel, stage: .collection, createdAt: Date(), submittedAt: Date()).encoded(),
                properties: .persistentJSON(correlationID: parcel.id, headers: [DeadLetter.Header.kind: .string("transient"),
                                                                                DeadLetter.Header.reason: .string("late van")])))
            await admin.close()
            let erase = try await ops.run(["erase", parcel.id])
            #expect(erase.status == 0 && erase.stdout.contains("Erased 1 dead letter"), "\(erase.stdout)\(erase.stderr)")
            let purge = try await ops.run(["dlq", "purge", "--yes"])
            #expect(purge.status == 0 && purge.stdout.contains("Purged 1 letter"), "\(purge.stdout)\(purge.stderr)")
        }
        try await fixture.tearDown()
    }

    @Test("refused: the submitter a consume, a get, a queue delete; the worker all outside its namespace; ops a stage queue, a declare",
          .timeLimit(.minutes(2)))
    func refusals() async throws {
        var fixture = try SubmitFixture()
        fixture.topology.namespace = "test.lp.\(UInt32.random(in: 0...UInt32.max))"
        try await fixture.declare()
        let topology = fixture.topology
        let stageQueue = topology.stageQueue(.collection)
        let outside = "other.\(UInt32.random(in: 0...UInt32.max))"
        try await BrokerUsers.with(fixture) { users in
            // Submitter: publishing is all it may do.
            try await users.expectAllowed(.submitter, "publish to the task exchange") { channel in
                try await channel.enableConfirms()
                try await channel.publish(AMQPOutboundMessage(exchange: topology.tasksExchange, routingKey: "collection",
                                                              body: Data("{}".utf8), mandatory: true))
            }
            await users.expectRefused(.submitter, users.refusal(.submitter, queue: stageQueue), "consume a stage queue") {
                _ = try await $0.consume(queue: stageQueue)
            }
            await users.expectRefused(.submitter, users.refusal(.submitter, queue: stageQueue), "delete a stage queue") {
                _ = try await $0.deleteQueue(stageQueue)
            }
            await users.expectRefused(.submitter, users.refusal(.submitter, queue: topology.deadQueue), "get a dead letter") {
                _ = try await $0.get(queue: topology.deadQueue)
            }

            // Worker: its namespace, nothing else.
            try await users.expectAllowed(.worker, "declare its topology") { try await topology.declare(on: $0) }
            await users.expectRefused(.worker, users.refusal(.worker, queue: "\(outside).queue"), "declare a queue outside its namespace") {
                _ = try await $0.declareQueue("\(outside).queue")
            }
            await users.expectRefused(.worker, users.refusal(.worker, exchange: "\(outside).exchange"),
                                      "declare an exchange outside its namespace") {
                try await $0.declareExchange("\(outside).exchange", type: .direct)
            }
            // The default exchange reaches every queue of the vhost by name.
            await users.expectRefused(.worker, users.refusal(.worker, exchange: "amq.default"), "publish to the default exchange") {
                try await $0.enableConfirms()
                try await $0.publish(AMQPOutboundMessage(routingKey: topology.retryQueue(.collection, delay: topology.retryDelays[0]),
                                                         body: Data("{}".utf8)))
            }

            // Ops: the dead-letter queue and the task exchange.
            try await users.expectAllowed(.ops, "get from the dead-letter queue and purge it") {
                _ = try await $0.get(queue: topology.deadQueue)
                _ = try await $0.purgeQueue(topology.deadQueue)
            }
            await users.expectRefused(.ops, users.refusal(.ops, queue: stageQueue), "consume a stage queue") {
                _ = try await $0.consume(queue: stageQueue)
            }
            await users.expectRefused(.ops, users.refusal(.ops, queue: topology.deadQueue), "delete the dead-letter queue") {
                _ = try await $0.deleteQueue(topology.deadQueue)
            }
            await users.expectRefused(.ops, users.refusal(.ops, queue: "\(topology.namespace).extra"), "declare a queue") {
                _ = try await $0.declareQueue("\(topology.namespace).extra")
            }
        }
        // Had a refusal failed, the guest cleans up what got through.
        let connection = try await Broker.connect()
        let channel = try await connection.openChannel()
        _ = try await channel.deleteQueue("\(outside).queue")
        try await channel.deleteExchange("\(outside).exchange")
        _ = try await channel.deleteQueue("\(topology.namespace).extra")
        await connection.close()
        try await fixture.tearDown()
    }
}

/// The three users of a fixture's namespace on the suite's node, made by deploy/rabbitmq/users.sh.
struct BrokerUsers {
    enum Role: String, CaseIterable { case submitter, worker, ops }

    let node: String
    let namespace: String
    let passwords: [String: String]

    func user(_ role: Role) -> String { "\(namespace)-\(role.rawValue)" }

    func url(_ role: Role) -> String {
        let endpoint = Broker.endpoint
        return "amqp://\(user(role)):\(passwords[role.rawValue] ?? "")@\(endpoint.host):\(endpoint.port)/%2f"
    }

    func cli(_ fixture: SubmitFixture, _ role: Role) -> Parcelctl {
        var environment = fixture.cli(url: url(role)).environment
        environment["PARCELFLOW_RETRY_DELAYS"] = fixture.topology.retryDelays.map(ParcelTopology.delayName).joined(separator: ",")
        return Parcelctl(environment: environment)
    }

    /// The broker's reply text when `role` may not touch the queue or exchange.
    func refusal(_ role: Role, queue: String) -> String {
        "ACCESS_REFUSED - access to queue '\(queue)' in vhost '/' refused for user '\(user(role))'"
    }

    func refusal(_ role: Role, exchange: String) -> String {
        "ACCESS_REFUSED - access to exchange '\(exchange)' in vhost '/' refused for user '\(user(role))'"
    }

    /// Runs `body` on a channel of its own as `role`; records what the broker said if it refused.
    func expectAllowed(_ role: Role, _ what: String, _ body: (AMQPChannel) async throws -> Void,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let connection = try await AMQPConnection.connect(try AMQPConfiguration(url: url(role), connectionName: "test \(what)"))
        do {
            try await body(try await connection.openChannel())
        } catch {
            Issue.record("\(user(role)) could not \(what): \(error)", sourceLocation: sourceLocation)
        }
        await connection.close()
    }

    /// Runs `body` as `role`, expecting the broker to close the channel with 403 and `refusal`.
    func expectRefused(_ role: Role, _ refusal: String, _ what: String, _ body: (AMQPChannel) async throws -> Void,
                       sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            let connection = try await AMQPConnection.connect(try AMQPConfiguration(url: url(role), connectionName: "test \(what)"))
            defer { Task { await connection.close() } }
            let channel = try await connection.openChannel()
            do {
                try await body(channel)
                Issue.record("\(user(role)) was allowed to \(what)", sourceLocation: sourceLocation)
            } catch let error as AMQPError {
                #expect(error.code == .channelClosedByBroker && error.replyCode == 403, "\(what): \(error)",
                        sourceLocation: sourceLocation)
                #expect(error.message == refusal, "\(what)", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("\(what): \(error)", sourceLocation: sourceLocation)
        }
    }

    static var script: URL { repositoryRoot.appendingPathComponent("deploy/rabbitmq/users.sh") }

    /// Creates the users with deploy/rabbitmq/users.sh, passwords from `passwords` (role: password)
    /// or else generated into the fixture's folder; runs `body`; removes the users and checks they are
    /// gone, whatever `body` did.
    static func with(_ fixture: SubmitFixture, passwords given: [String: String] = [:],
                     _ body: (BrokerUsers) async throws -> Void) async throws {
        let node = try #require(Broker.environment["PARCELFLOW_BROKER_NODE"],
                                "deploy/local/test.sh exports the node name of the broker it runs")
        let namespace = fixture.topology.namespace
        let folder = fixture.directory.appendingPathComponent("broker-users")
        var environment: [String: String] = [:]
        for role in Role.allCases {
            // Set (possibly empty) so that nothing inherited chooses the passwords.
            environment["PARCELFLOW_\(role.rawValue.uppercased())_PASSWORD"] = given[role.rawValue] ?? ""
            environment["PARCELFLOW_\(role.rawValue.uppercased())_PASSWORD_FILE"] = ""
        }
        let arguments = ["--node", node, "--namespace", namespace, "--password-dir", folder.path]
        let created = try await runChild(script, arguments, environment: environment)
        try #require(created.status == 0, "users.sh: \(created.output)\(created.errors)")
        var passwords: [String: String] = [:]
        for role in Role.allCases {
            let user = "\(namespace)-\(role.rawValue)"
            #expect(created.errors.contains("created \(user) on \(node), vhost /"), "\(created.errors)")
            if let password = given[role.rawValue] {
                passwords[role.rawValue] = password
                continue
            }
            let file = folder.appendingPathComponent("\(user).password")
            let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(file.path) has mode \(String(mode ?? 0, radix: 8))")
            passwords[role.rawValue] = try String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .newlines)
        }
        for password in passwords.values {
            #expect(!password.isEmpty && !(created.output + created.errors).contains(password), "users.sh printed a password")
        }
        // Safe to repeat: the same users, the same passwords (a generated one is kept, not made anew).
        let again = try await runChild(script, arguments, environment: environment)
        #expect(again.status == 0 && again.errors.contains("updated \(namespace)-worker"), "\(again.output)\(again.errors)")
        for role in Role.allCases where given[role.rawValue] == nil {
            let file = folder.appendingPathComponent("\(namespace)-\(role.rawValue).password")
            #expect(try String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .newlines) == passwords[role.rawValue])
        }

        let users = BrokerUsers(node: node, namespace: namespace, passwords: passwords)
        var failure: (any Error)?
        do { try await body(users) } catch { failure = error }

        let removed = try await runChild(script, arguments + ["--remove"], environment: environment)
        #expect(removed.status == 0, "users.sh --remove: \(removed.output)\(removed.errors)")
        let listed = try await runChild(URL(fileURLWithPath: "/usr/lib/rabbitmq/bin/rabbitmqctl"), ["-q", "-n", node, "list_users", "-s"])
        #expect(listed.status == 0 && !listed.output.contains(namespace), "left behind: \(listed.output)\(listed.errors)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("\(namespace)-ops.password").path))
        if let failure { throw failure }
    }
}
