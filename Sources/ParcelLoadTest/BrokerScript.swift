import Foundation

/// The script that stops and starts broker nodes for the load test's chaos: `deploy/local/broker.sh`,
/// or one of the same shape.
///
/// What the load test calls: `stop [--name NODE]` and `start [--name NODE]` (exit 0 once the node is
/// down, or up and booted); for a cluster also `cluster nodes` ("node<TAB>URL" per node), `cluster
/// leaders` ("queue<TAB>leader node" per quorum queue) and `cluster status` (exit 0 when every node
/// runs as a member). Its standard error goes to `log`, kept with the workers' logs, each call under
/// a line naming it.
struct BrokerScript: Sendable {
    let path: String
    let log: URL?

    /// `NODE@host` → `NODE`: the script names nodes without their host.
    static func shortName(_ node: String) -> String {
        String(node.split(separator: "@", maxSplits: 1).first ?? Substring(node))
    }

    func stop(node: String) async -> Int32 { await run(["stop", "--name", Self.shortName(node)]).status }

    func start(node: String) async -> Int32 { await run(["start", "--name", Self.shortName(node)]).status }

    func clusterIsWhole() async -> Bool { await run(["cluster", "status"]).status == 0 }

    /// The cluster's nodes with their AMQP URLs, in the script's order.
    func nodes() async throws -> [(node: String, url: String)] {
        try await table(["cluster", "nodes"]).map { (node: $0.0, url: $0.1) }
    }

    /// Each quorum queue's leader node.
    func leaders() async throws -> [String: String] {
        Dictionary(try await table(["cluster", "leaders"]), uniquingKeysWith: { first, _ in first })
    }

    private func table(_ arguments: [String]) async throws -> [(String, String)] {
        let (status, output) = await run(arguments)
        guard status == 0 else {
            throw LoadTestError("`\(([path] + arguments).joined(separator: " "))` exited with status \(status)"
                + (log.map { " (its output: \($0.path))" } ?? ""))
        }
        return output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 2 else { return nil }
            return (String(fields[0]), String(fields[1]))
        }
    }

    /// Runs the script with `arguments` to its end; its exit status and standard output.
    func run(_ arguments: [String]) async -> (status: Int32, output: String) {
        await Self.execute([path] + arguments, log: log)
    }

    /// Runs a command to its end, waiting on a thread of its own (a broker takes seconds to stop and
    /// start; that wait must not hold a thread of Swift's small cooperative pool). Output goes through
    /// files, never pipes: a node the script starts must not hold a pipe of ours open.
    static func execute(_ command: [String], log: URL?) async -> (status: Int32, output: String) {
        guard let program = command.first else { return (-1, "") }
        return await withCheckedContinuation { continuation in
            Thread {
                let output = FileManager.default.temporaryDirectory
                    .appendingPathComponent("parcelflow-script-\(UUID().uuidString).out")
                defer { try? FileManager.default.removeItem(at: output) }
                let process = Process()
                process.executableURL = URL(fileURLWithPath: program)
                process.arguments = Array(command.dropFirst())
                process.standardInput = FileHandle.nullDevice
                process.standardError = appending(to: log, "== \(Date()) \(command.joined(separator: " "))\n")
                    ?? FileHandle.nullDevice
                do {
                    _ = FileManager.default.createFile(atPath: output.path, contents: nil)
                    let handle = try FileHandle(forWritingTo: output)
                    process.standardOutput = handle
                    try process.run()
                    process.waitUntilExit()
                    try? handle.close()
                    try? (process.standardError as? FileHandle)?.close()
                    let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                    continuation.resume(returning: (process.terminationStatus, text))
                } catch {
                    continuation.resume(returning: (-1, ""))
                }
            }.start()
        }
    }

    /// A handle writing at the end of `log` (created if need be), after `header`; nil without a log.
    private static func appending(to log: URL?, _ header: String) -> FileHandle? {
        guard let log else { return nil }
        if !FileManager.default.fileExists(atPath: log.path) {
            try? FileManager.default.createDirectory(at: log.deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        }
        guard let handle = try? FileHandle(forWritingTo: log) else { return nil }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: Data(header.utf8))
        return handle
    }
}
