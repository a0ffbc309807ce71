import Foundation
@testable import ParcelHTTP
import Testing

/// The page, style sheet and script the dashboard serves are the files in Sources/ParcelHTTP/Dashboard,
/// byte for byte (embedded at build time by the EmbedAssets plugin).
@Suite("Dashboard assets")
struct DashboardAssetsTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/ParcelHTTP/Dashboard").standardized

    @Test("what is served is the files, byte for byte", arguments: [
        ("dashboard.html", DashboardPage.html), ("dashboard.css", DashboardPage.style), ("dashboard.js", DashboardPage.script),
    ])
    func servedAsWritten(file: String, served: String) throws {
        let bytes = try Data(contentsOf: Self.folder.appendingPathComponent(file))
        #expect(Data(served.utf8) == bytes, "\(file): \(served.utf8.count) bytes served, \(bytes.count) in the file")
    }

    @Test("the page holds no inline script or style, and loads only its own")
    func noInlineScriptOrStyle() {
        let page = DashboardPage.html
        #expect(!page.contains("<style") && !page.contains("style=") && !page.contains("<script>"))
        #expect(page.contains(#"<script src="dashboard.js" defer></script>"#))
        #expect(page.contains(#"<link rel="stylesheet" href="dashboard.css">"#))
    }
}
