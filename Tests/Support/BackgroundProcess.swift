import Foundation

/// A program running beside a test — a worker, Prometheus, the dashboard — with its output in a log
/// file. Stopped with ``stop()`` (SIGTERM, then SIGKILL after a grace period).
public final class BackgroundProcess: @unchecked Sendable {
    // @unchecked: `process` is configured in init and then only read; Process is thread-safe to signal and wait on.
    public let process = Process()
    public let log: URL

    public init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], log: URL) throws {
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        self.log = log
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the process to end; its exit status, or nil after `timeout`.
    public func exitStatus(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// SIGTERM; SIGKILL if it has not ended after `grace`.
    public func stop(grace: Duration = .seconds(10)) async {
        guard process.isRunning else { return }
        signal(SIGTERM)
        if await exitStatus(timeout: grace) == nil {
            signal(SIGKILL)
            _ = await exitStatus(timeout: .seconds(5))
        }
    }

    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
}

/// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice).
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    return try bindToLoopback(fd, listen: false)
}

/// Binds `fd` to 127.0.0.1 on a port the kernel picks (and listens, if asked); the port.
public func bindToLoopback(_ fd: Int32, listen listening: Bool) throws -> Int {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && (!listening || listen(fd, 16) == 0) && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// GET `url` with curl: the status code and body.
public func httpGet(_ url: String) async throws -> (status: Int, body: String) {
    let exit = try await runChild(URL(fileURLWithPath: "/usr/bin/curl"),
                                  ["-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", url])
    guard exit.status == 0 else { return (0, exit.errors) }
    var body = exit.output
    let status = Int(body.split(separator: "\n").last ?? "") ?? 0
    if let newline = body.lastIndex(of: "\n") { body = String(body[..<newline]) }
    return (status, body)
}
