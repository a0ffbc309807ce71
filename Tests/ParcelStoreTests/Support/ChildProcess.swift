import Foundation

/// How a child process ended.
struct ChildExit: Sendable {
    var status: Int32
    var output: String
    var errors: String
}

/// Runs a program to its end and returns its exit status and output.
///
/// The wait happens on a thread of its own, never on Swift's cooperative pool: the child may take
/// seconds, and blocking one of the few cooperative threads that long would stall every other test.
func runChild(_ executable: URL, _ arguments: [String], outputFolder: URL) async throws -> ChildExit {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result { try runChildBlocking(executable, arguments, outputFolder: outputFolder) })
        }.start()
    }
}

private func runChildBlocking(_ executable: URL, _ arguments: [String], outputFolder: URL) throws -> ChildExit {
    // Output goes to files, so a chatty child can never block on a full pipe.
    let name = UUID().uuidString
    let outputURL = outputFolder.appendingPathComponent("\(name).out")
    let errorURL = outputFolder.appendingPathComponent("\(name).err")
    _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
    let output = try FileHandle(forWritingTo: outputURL)
    let errors = try FileHandle(forWritingTo: errorURL)
    defer {
        try? output.close()
        try? errors.close()
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    process.waitUntilExit()
    return ChildExit(status: process.terminationStatus,
                     output: (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "",
                     errors: (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "")
}

/// A program SwiftPM built next to the test bundle (`.build/debug/NAME`), or nil.
///
/// Under `swift test` on Linux the tests run inside `ParcelFlowPackageTests.xctest`, an executable in
/// the same folder as the package's other executables; on macOS the bundle sits there too.
func builtProduct(_ name: String) -> URL? {
    var folders = [URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()]
    var bundle = Bundle.main.bundleURL
    while bundle.pathExtension == "xctest" || bundle.lastPathComponent == "Contents" || bundle.lastPathComponent == "MacOS" {
        bundle.deleteLastPathComponent()
    }
    folders.append(bundle)
    for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
        folders.append(bundle.bundleURL.deletingLastPathComponent())
    }
    return folders.map { $0.appendingPathComponent(name) }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
}
