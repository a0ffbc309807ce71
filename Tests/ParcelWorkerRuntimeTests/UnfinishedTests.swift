import Foundation
import ParcelCore
import ParcelTestSupport
@testable import ParcelWorkerRuntime
import Synchronization
import Testing

/// The ordering a worker relies on when it records slow tasks as started on their own: that write
/// reaches the store before any of its tasks' outcomes.
@Suite("Recording slow tasks as started")
struct UnfinishedTests {
    static func started(_ count: Int) -> [TaskProcessor.Started] {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        return ParcelGenerator(seed: 3).parcels(count).map {
            TaskProcessor.Started(TaskEnvelope(parcel: $0, stage: .packaging, createdAt: now, submittedAt: now), at: now)
        }
    }

    @Test("the write holds only tasks still running, and a handler returning during it waits for it")
    func handlerWaitsForTheWrite() async throws {
        let tasks = Self.started(3)
        let unfinished = Unfinished(tasks)
        await unfinished.finished(0)  // nothing being written: returns at once
        let events = Events()
        let (writeBegan, writing) = AsyncStream<Void>.makeStream()
        let (released, release) = AsyncStream<Void>.makeStream()

        let recording = Task {
            await unfinished.recordRunning { running in
                events.append("write \(running.map(\.task.parcelID))")
                writing.yield()
                for await _ in released { break }
                events.append("written")
            }
        }
        for await _ in writeBegan { break }
        let handler = Task {
            await unfinished.finished(1)
            events.append("outcome 1")
        }
        try await Task.sleep(for: .milliseconds(100))
        // The handler has returned but its outcome must wait for the write.
        #expect(events.list == ["write \([tasks[1].task.parcelID, tasks[2].task.parcelID])"])
        release.yield()
        await handler.value
        await recording.value
        #expect(events.list.suffix(2) == ["written", "outcome 1"])
        #expect(!unfinished.allFinished)
        await unfinished.finished(2)
        #expect(unfinished.allFinished)
    }

    @Test("when every handler has returned there is nothing to write")
    func nothingToWrite() async {
        let unfinished = Unfinished(Self.started(2))
        await unfinished.finished(1)
        await unfinished.finished(0)
        let calls = Events()
        await unfinished.recordRunning { _ in calls.append("called") }
        #expect(calls.list.isEmpty)
        #expect(unfinished.allFinished)
    }
}
