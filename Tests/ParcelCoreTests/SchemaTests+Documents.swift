import Foundation
import ParcelCore
import ParcelTestSupport
import Testing

/// SchemaTests, continued: the submission files, the AsyncAPI document, and the schemas' constants
/// against the Swift ones (SchemaTests.swift has the task bodies: encoded, examples, edge cases).
extension SchemaTests {
    // MARK: (d) submission files

    @Test("parcels.jsonl validates against the parcel schema and parses; parcels.csv holds the same parcels")
    func submissionExamples() async throws {
        let jsonl = SchemaFiles.url("examples/parcels.jsonl")
        let results = try await Validator.run(["parcel", "--lines", jsonl.path])
        let lines = try String(contentsOf: jsonl, encoding: .utf8).split(separator: "\n")
        #expect(results.status == 0, "\(results.stdout)\(results.stderr)")
        #expect(results.lines.count == lines.count)
        #expect(results.lines.allSatisfy { $0.hasSuffix(": ok") }, "\(results.lines)")
        var parcels: [Parcel] = []
        for line in lines {
            let value = try #require(JSONValue.parse(Data(line.utf8)), "not JSON: \(line)")
            switch ParcelParsing.parcel(fromJSON: value) {
            case .success(let parcel): parcels.append(parcel)
            case .failure(let invalid): Issue.record("\(line): \(invalid)")
            }
        }
        #expect(parcels.count >= 3)
        #expect(parcels.contains { $0.contents.letters == 0 })
        #expect(parcels.contains { !$0.contents.items.isEmpty }, "one parcel declares items")

        let csv = try String(contentsOf: SchemaFiles.url("examples/parcels.csv"), encoding: .utf8)
        var rows = csv.split(separator: "\n").map { CSV.fields(String($0)) }
        let header = rows.removeFirst()
        #expect(header == ParcelParsing.csvColumns + ParcelParsing.csvOptionalColumns)
        var fromCSV: [Parcel] = []
        for row in rows {
            #expect(row.count == header.count, "\(row)")
            switch ParcelParsing.parcel(fromCSV: Dictionary(uniqueKeysWithValues: zip(header, row))) {
            case .success(let parcel): fromCSV.append(parcel)
            case .failure(let invalid): Issue.record("\(row): \(invalid)")
            }
        }
        #expect(fromCSV == parcels)
    }

    // MARK: (e) AsyncAPI

    @Test("the AsyncAPI document parses and names every exchange, queue and header")
    func asyncAPI() async throws {
        let python = try await Python.interpreter()
        let result = try await runChild(URL(fileURLWithPath: python), [
            "-c", "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1], encoding='utf-8')), sys.stdout)",
            SchemaFiles.url("asyncapi.yaml").path,
        ])
        #expect(result.status == 0, "\(result.errors)")
        let document = try #require(JSONValue.parse(Data(result.output.utf8)), "asyncapi.yaml is not a YAML mapping")
        #expect(document["asyncapi"] == .string("2.6.0"))
        let channels = try #require(document["channels"]?.objectValue)

        // The tasks exchange, routing by stage.
        let tasks = try #require(channels["{stage}"])
        #expect(tasks["bindings", "amqp", "is"] == .string("routingKey"))
        #expect(tasks["bindings", "amqp", "exchange", "name"] == .string("parcelflow.tasks"))
        #expect(tasks["bindings", "amqp", "exchange", "type"] == .string("direct"))
        #expect(tasks["bindings", "amqp", "exchange", "durable"] == .bool(true))
        #expect(document["components", "parameters", "stage", "schema", "enum"]?.strings == Stage.allCases.map(\.rawValue))

        // One quorum queue per stage, with a delivery limit, dead-lettering to parcelflow.dead.
        for stage in Stage.allCases {
            let name = "parcelflow.\(stage.rawValue)"
            let queue = try #require(channels[name], "no channel \(name)")
            #expect(queue["bindings", "amqp", "is"] == .string("queue"))
            #expect(queue["bindings", "amqp", "queue", "name"] == .string(name))
            #expect(queue["bindings", "amqp", "queue", "durable"] == .bool(true))
            #expect(queue["bindings", "amqp", "x-arguments", "x-queue-type"] == .string("quorum"))
            #expect(queue["bindings", "amqp", "x-arguments", "x-delivery-limit"]?.integerValue != nil)
            #expect(queue["bindings", "amqp", "x-arguments", "x-dead-letter-exchange"] == .string("parcelflow.dead"))
            #expect(queue["publish", "message", "$ref"] == .string("#/components/messages/task"))
        }

        // Retry delay queues: parcelflow.retry.<stage>.<delay>, TTL = delay, back to parcelflow.tasks.
        let retry = try #require(channels["parcelflow.retry.{stage}.{delay}"])
        #expect(retry["bindings", "amqp", "queue", "name"] == .string("parcelflow.retry.{stage}.{delay}"))
        #expect(retry["bindings", "amqp", "x-arguments", "x-queue-type"] == .string("quorum"))
        #expect(retry["bindings", "amqp", "x-arguments", "x-dead-letter-exchange"] == .string("parcelflow.tasks"))
        #expect(retry["bindings", "amqp", "x-arguments", "x-dead-letter-routing-key"] == .string("<stage>"))
        #expect(retry["bindings", "amqp", "x-arguments", "x-message-ttl"] != nil)
        let tiers = try #require(retry["x-parcelflow-default-tiers"]?.arrayValue)
        #expect(tiers.compactMap { $0["delay"]?.stringValue } == ["1s", "5s", "30s", "2m", "10m"])
        #expect(tiers.compactMap { $0["x-message-ttl"]?.integerValue } == [1000, 5000, 30000, 120_000, 600_000])
        #expect(retry["subscribe", "description"]?.stringValue?.contains("retry exchange `parcelflow.retry`") == true)

        // Dead letters: fanout exchange → quorum queue, with the four headers.
        let deadExchange = try #require(channels["dead-letter"])
        #expect(deadExchange["bindings", "amqp", "exchange", "name"] == .string("parcelflow.dead"))
        #expect(deadExchange["bindings", "amqp", "exchange", "type"] == .string("fanout"))
        #expect(deadExchange["bindings", "amqp", "exchange", "durable"] == .bool(true))
        let deadQueue = try #require(channels["parcelflow.dead"])
        #expect(deadQueue["bindings", "amqp", "queue", "name"] == .string("parcelflow.dead"))
        #expect(deadQueue["bindings", "amqp", "x-arguments", "x-queue-type"] == .string("quorum"))
        let headers = try #require(document["components", "messages", "deadLetter", "headers"])
        #expect(headers["required"]?.strings?.sorted()
            == ["x-parcelflow-attempts", "x-parcelflow-error-kind", "x-parcelflow-reason", "x-parcelflow-stage"])
        #expect(headers["properties", "x-parcelflow-error-kind", "enum"]?.strings
            == ["transient", "permanent", "invalid", "poison"])

        // The task message: persistent JSON whose payload is the envelope schema.
        let task = try #require(document["components", "messages", "task"])
        #expect(task["contentType"] == .string("application/json"))
        #expect(task["payload", "$ref"] == .string("./task-envelope.v1.schema.json"))
        #expect(task["x-amqp-properties", "delivery_mode"] == .integer(2))
        #expect(task["x-amqp-properties", "message_id"]?.stringValue?.contains("task_id") == true)
        #expect(task["x-amqp-properties", "correlation_id"]?.stringValue?.contains("parcel_id") == true)
        #expect(channels["{stage}"]?["subscribe", "bindings", "amqp", "deliveryMode"] == .integer(2))

        // Its examples are valid tasks.
        let examples = try #require(task["examples"]?.arrayValue)
        let payloads = try examples.map { try JSONSerialization.data(withJSONObject: try #require($0["payload"]).foundation) }
        let results = try await Validator.validate(lines: payloads, against: "task-envelope")
        #expect(results == Array(repeating: "ok", count: payloads.count))
    }

    // MARK: the schemas say what the Swift code says

    @Test("the schemas' enums, limits and per-stage payload keys are the Swift ones")
    func schemasMatchSwiftConstants() throws {
        let parcel = try SchemaFiles.json("parcel.v1.schema.json")
        let envelope = try SchemaFiles.json("task-envelope.v1.schema.json")
        let payloads = try SchemaFiles.json("stage-payloads.v1.schema.json")
        #expect(parcel["$defs", "relation", "enum"]?.strings == Relation.allCases.map(\.rawValue))
        #expect(parcel["$defs", "parcelID", "maxLength"]?.integerValue == Parcel.maxIDLength)
        #expect(parcel["$defs", "text", "maxLength"]?.integerValue == Parcel.maxTextLength)
        #expect(parcel["properties", "weight_grams", "minimum"] == .integer(1))
        #expect(parcel["properties", "weight_grams", "maximum"]?.integerValue == Parcel.maxWeightGrams)
        #expect(parcel["properties", "contents", "properties", "letters", "maximum"]?.integerValue == Parcel.maxItems)
        #expect(parcel["properties", "contents", "properties", "drawings", "maximum"]?.integerValue == Parcel.maxItems)
        #expect(parcel["required"]?.strings == ["id", "sender", "recipient", "contents", "weight_grams", "origin"])
        #expect(parcel["additionalProperties"] == .bool(false))

        #expect(envelope["properties", "schema_version", "const"]?.integerValue == TaskEnvelope.schemaVersion)
        #expect(envelope["properties", "stage", "enum"]?.strings == Stage.allCases.map(\.rawValue))
        #expect(envelope["properties", "attempt", "minimum"] == .integer(1))
        #expect(envelope["additionalProperties"] == .bool(false))
        #expect(payloads["$defs", "box", "enum"]?.strings == StagePayload.Box.allCases.map(\.rawValue))
        #expect(payloads["$defs", "fields", "additionalProperties"] == .bool(false))
        for stage in Stage.allCases {
            #expect(payloads["$defs", stage.rawValue, "required"]?.strings == StagePayload.requiredKeys(for: stage),
                    "\(stage)")
        }
        // Each stage's branch of the envelope points at that stage's payload.
        let branches = try #require(envelope["allOf"]?.arrayValue)
        for stage in Stage.allCases {
            let branch = branches.first { $0["if", "properties", "stage", "const"] == .string(stage.rawValue) }
            #expect(branch?["then", "properties", "payload", "$ref"]
                == .string("stage-payloads.v1.schema.json#/$defs/\(stage.rawValue)"), "\(stage)")
        }
    }
}
