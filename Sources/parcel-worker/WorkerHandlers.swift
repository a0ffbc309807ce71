import ArgumentParser
import Foundation
import Logging
import ParcelCommandLine
import ParcelCore
import ParcelHTTPHandler
import ParcelWorkerRuntime
import ServiceLifecycle

/// The stage handlers ops chose (``HandlerChoice``), built, and the services they need running
/// (an HTTP client's connections), which the worker's service group starts and stops with it.
struct WorkerHandlers {
    var handlers: [Stage: any StageHandler] = [:]
    var services: [any Service] = []

    /// `concurrency`: the worker's tasks in flight (an HTTP handler keeps as many connections).
    init(choice: HandlerChoice, concurrency: Int, logger: Logger, simulated: (Stage) -> SimulatedStageHandler) throws {
        // One client for every HTTP handler, made only if a stage has one.
        var httpClient: HTTPHandlerClient?
        for stage in Stage.allCases {
            switch choice[stage] {
            case .simulated:
                handlers[stage] = simulated(stage)
            case .rules(let path):
                // Inspection rules: they hold a parcel at inspection, and check no other stage.
                guard stage == .inspection else {
                    throw ValidationError("--handler \(stage)=\(choice[stage]): the rules check inspection only "
                        + "(--handler inspection=rules:FILE)")
                }
                // Read and checked now, before anything is consumed: a broken file stops the worker here.
                do {
                    let rules = try InspectionRules.load(path: path)
                    handlers[stage] = InspectionRulesHandler(rules: rules)
                    logger.info("inspection rules loaded", metadata: [
                        "file": "\(path)", "facilities": "\(rules.facilities.count)", "origins": "\(rules.origins.count)"])
                } catch {
                    throw CommandFailure("the inspection rules are not valid:\n\(error.description)")
                }
            case .http(let url):
                let endpoint: HandoverEndpoint
                do {
                    endpoint = try HandoverEndpoint(url)
                } catch {
                    throw ValidationError("--handler \(stage)=http: the URL \(TerminalText.escaped(error.description))")
                }
                let client = try httpClient ?? Self.httpClient(connections: concurrency, logger: logger)
                if httpClient == nil {
                    httpClient = client
                    services.append(client)
                }
                handlers[stage] = HTTPStageHandler(stage: stage, endpoint: endpoint, client: client, logger: logger)
            }
        }
        logger.info("handlers", metadata: ["handlers": "\(choice.summary)"])
    }

    /// The HTTP handlers' client; PARCELFLOW_HTTP_CA_FILE names PEM certificates trusted besides the
    /// system's (a private CA).
    private static func httpClient(connections: Int, logger: Logger) throws -> HTTPHandlerClient {
        let caFile = ProcessInfo.processInfo.environment["PARCELFLOW_HTTP_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        do {
            return try HTTPHandlerClient(settings: .init(caFile: caFile, connectionsPerHost: connections), logger: logger)
        } catch {
            throw ValidationError("PARCELFLOW_HTTP_CA_FILE: \(TerminalText.escaped(error.description))")
        }
    }
}
