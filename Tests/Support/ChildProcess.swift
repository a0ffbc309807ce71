import Foundation

/// How a child process ended.
public struct ChildExit: Sendable {
    public var status: Int32
    public var output: String
    public var errors: String

    /// Output lines, without empty ones.
    public var lines: [String] { output.split(separator: "\n").map(String.init) }
}

/// Runs a program to its end and returns its exit status and output.
///
/// The wait happens on a thread of its own, never on Swift's cooperative pool: a child may take
/// seconds (a broker node starting), and blocking one of the few cooperative threads that long would
/// stall every other test. Standard input, output and error go through files, so no pipe can fill up.
public func runChild(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                     stdin: Data = Data()) async throws -> ChildExit {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result { try runChildBlocking(executable, arguments, environment, stdin) })
        }.start()
    }
}

private func runChildBlocking(_ executable: URL, _ arguments: [String], _ environment: [String: String],
                              _ stdin: Data) throws -> ChildExit {
    let files = FileManager.default
    let folder = files.temporaryDirectory.appendingPathComponent("parcelflow-child-\(UUID().uuidString)")
    try files.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? files.removeItem(at: folder) }
    let input = folder.appendingPathComponent("stdin")
    let output = folder.appendingPathComponent("stdout")
    let errors = folder.appendingPathComponent("stderr")
    try stdin.write(to: input)
    try Data().write(to: output)
    try Data().write(to: errors)
    let inputHandle = try FileHandle(forReadingFrom: input)
    let outputHandle = try FileHandle(forWritingTo: output)
    let errorHandle = try FileHandle(forWritingTo: errors)
    defer {
        try? inputHandle.close()
        try? outputHandle.close()
        try? errorHandle.close()
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardInput = inputHandle
    process.standardOutput = outputHandle
    process.standardError = errorHandle
    try process.run()
    process.waitUntilExit()
    return ChildExit(status: process.terminationStatus,
                     output: String(decoding: try Data(contentsOf: output), as: UTF8.self),
                     errors: String(decoding: try Data(contentsOf: errors), as: UTF8.self))
}

/// A program SwiftPM built next to the test bundle (`.build/debug/NAME`), or nil.
///
/// Under `swift test` on Linux the tests run inside `ParcelFlowPackageTests.xctest`, an executable in
/// the same folder as the package's other executables; on macOS the bundle sits there too.
public func builtProduct(_ name: String) -> URL? {
    var folders = [URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()]
    var bundle = Bundle.main.bundleURL
    while bundle.pathExtension == "xctest" || bundle.lastPathComponent == "Contents" || bundle.lastPathComponent == "MacOS" {
        bundle.deleteLastPathComponent()
    }
    folders.append(bundle)
    for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
        folders.append(bundle.bundleURL.deletingLastPathComponent())
    }
    folders.append(repositoryRoot.appendingPathComponent(".build/debug"))
    return folders.map { $0.appendingPathComponent(name) }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

/// The repository's root: the folder above this file that holds Package.swift.
public let repositoryRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    fatalError("Package.swift not found above \(#filePath)")
}()

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
public func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
