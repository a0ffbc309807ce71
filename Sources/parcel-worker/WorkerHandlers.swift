import ArgumentParser
import Logging
import ParcelCore
import ParcelWorkerRuntime
import ServiceLifecycle

/// The stage handlers ops chose (``HandlerChoice``), built, and the services they need running
/// (an HTTP client's connections), which the worker's service group starts and stops with it.
struct WorkerHandlers {
    var handlers: [Stage: any StageHandler] = [:]
    var services: [any Service] = []

    init(choice: HandlerChoice, logger: Logger, simulated: (Stage) -> SimulatedStageHandler) throws {
        for stage in Stage.allCases {
            switch choice[stage] {
            case .simulated:
                handlers[stage] = simulated(stage)
            case .rules, .http:
                throw ValidationError("--handler \(stage)=\(choice[stage]): this kind of handler is not built yet")
            }
        }
        logger.info("handlers", metadata: ["handlers": "\(choice.summary)"])
    }
}
