import Foundation
import ParcelCore

/// Inspection by the rules in a file (``InspectionRules``): a parcel that breaks any rule is held for
/// a person to review, with a reason naming each rule it breaks; any other passes, its inspection
/// recorded. Pure: nothing outside is called, so a repeat of a task gives the same answer.
public struct InspectionRulesHandler: StageHandler {
    public let rules: InspectionRules
    private let now: @Sendable () -> Date

    public init(rules: InspectionRules, now: @escaping @Sendable () -> Date = Date.init) {
        self.rules = rules
        self.now = now
    }

    public func handle(_ task: TaskEnvelope, context: HandlerContext) async throws(TaskFailure) -> StageOutcome {
        let violations = rules.violations(of: task.parcel)
        guard violations.isEmpty else { return .held(reason: InspectionViolation.reason(violations)) }
        return .completed(task.payload.fillingIn(recordedBy: task.stage, from: task, at: now()))
    }
}
