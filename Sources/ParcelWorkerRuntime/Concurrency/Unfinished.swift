import ParcelCore
import Synchronization

/// A batch's tasks while their handlers run, and the one "started" write for those that take long.
///
/// That write must reach the store before any of its tasks' outcomes: a "started" arriving after a
/// "retrying" would move the parcel back to processing. So a handler that returns while the write
/// for its task is under way waits for it before its outcome goes to be settled.
final class Unfinished: Sendable {
    private struct State {
        var finished: [Bool]
        var finishedCount = 0
        /// Tasks in the "started" write.
        var inWrite: [Bool]
        var write: Task<Void, Never>?
    }

    private let tasks: [TaskProcessor.Started]
    private let state: Mutex<State>

    init(_ tasks: [TaskProcessor.Started]) {
        self.tasks = tasks
        state = Mutex(State(finished: Array(repeating: false, count: tasks.count),
                            inWrite: Array(repeating: false, count: tasks.count)))
    }

    var allFinished: Bool { state.withLock { $0.finishedCount == tasks.count } }

    /// Task `index`'s handler has returned; waits for a "started" write that holds it.
    func finished(_ index: Int) async {
        let write = state.withLock { state -> Task<Void, Never>? in
            state.finished[index] = true
            state.finishedCount += 1
            return state.inWrite[index] ? state.write : nil
        }
        await write?.value
    }

    /// Writes the tasks still running with `record`, and waits for it; nothing when all have finished.
    func recordRunning(_ record: @escaping @Sendable ([TaskProcessor.Started]) async -> Void) async {
        let write = state.withLock { state -> Task<Void, Never>? in
            let running = tasks.indices.filter { !state.finished[$0] }
            guard !running.isEmpty else { return nil }
            for index in running { state.inWrite[index] = true }
            let started = running.map { tasks[$0] }
            // Made under the lock, so a handler returning now already finds it.
            state.write = Task { await record(started) }
            return state.write
        }
        await write?.value
    }
}
