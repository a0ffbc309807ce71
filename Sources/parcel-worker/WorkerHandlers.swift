import ArgumentParser
import Logging
import ParcelCommandLine
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
            case .http:
                throw ValidationError("--handler \(stage)=\(choice[stage]): this kind of handler is not built yet")
            }
        }
        logger.info("handlers", metadata: ["handlers": "\(choice.summary)"])
    }
}
