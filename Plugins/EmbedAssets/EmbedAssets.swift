import PackagePlugin

/// Embeds a target's static files in its code at build time, so that the binary carries them and
/// needs no resource bundle beside it.
///
/// Every file of the target that SwiftPM does not handle itself (not a source file, not a declared
/// resource: `Sources/ParcelHTTP/Dashboard/dashboard.css`, say) becomes a `static let` of
/// `enum EmbeddedAssets` named after it (`EmbeddedAssets.dashboardCss`), written byte for byte by the
/// `parcelflow-embed` tool into a Swift file that is compiled with the target's own sources.
@main
struct EmbedAssets: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        // Sorted, so that the generated file does not depend on the order the files were listed in.
        let inputs = target.sourceFiles.filter { $0.type == .unknown }.map(\.url)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.path(percentEncoded: false) < $1.path(percentEncoded: false) }
        guard !inputs.isEmpty else { return [] }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedAssets.swift", directoryHint: .notDirectory)
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) file(s) in \(target.name)",
                executable: try context.tool(named: "parcelflow-embed").url,
                arguments: [output.path(percentEncoded: false), "EmbeddedAssets"] + inputs.map { $0.path(percentEncoded: false) },
                inputFiles: inputs,
                outputFiles: [output]),
        ]
    }
}
