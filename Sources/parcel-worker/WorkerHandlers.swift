import ArgumentParser
import Foundation
import Logging
import ParcelCore
import ParcelHTTPHandler
import ParcelWorkerRuntime
import ServiceLifecycle

/// The stage handlers ops chose (``HandlerChoice``), built, and the services they need running
/// (an HTTP client's connections), which the worker's service group starts and stops with it.
struct WorkerHandlers {
    var handlers: [Stage: any StageHandler] = [:]
    var services: [any Service] = []

    init(choice: HandlerChoice, logger: Logger, simulated: (Stage) -> SimulatedStageHandler) throws {
        // One client for every HTTP handler, made only if a stage has one.
        var httpClient: HTTPHandlerClient?
        for stage in Stage.allCases {
            switch choice[stage] {
            case .simulated:
                handlers[stage] = simulated(stage)
            case .http(let url):
                let endpoint: HandoverEndpoint
                do {
                    endpoint = try HandoverEndpoint(url)
                } catch {
                    throw ValidationError("--handler \(stage)=http: the URL \(TerminalText.escaped(error.description))")
                }
                let client = try httpClient ?? Self.httpClient(logger: logger)
                if httpClient == nil {
                    httpClient = client
                    services.append(client)
                }
                handlers[stage] = HTTPStageHandler(stage: stage, endpoint: endpoint, client: client, logger: logger)
            case .rules:
                throw ValidationError("--handler \(stage)=\(choice[stage]): this kind of handler is not built yet")
            }
        }
        logger.info("handlers", metadata: ["handlers": "\(choice.summary)"])
    }

    /// The HTTP handlers' client; PARCELFLOW_HTTP_CA_FILE names PEM certificates trusted besides the
    /// system's (a private CA).
    private static func httpClient(logger: Logger) throws -> HTTPHandlerClient {
        let caFile = ProcessInfo.processInfo.environment["PARCELFLOW_HTTP_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        do {
            return try HTTPHandlerClient(settings: .init(caFile: caFile), logger: logger)
        } catch {
            throw ValidationError("PARCELFLOW_HTTP_CA_FILE: \(TerminalText.escaped(error.description))")
        }
    }
}
