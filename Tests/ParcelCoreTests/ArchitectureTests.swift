import Foundation
import ParcelTestSupport
import Testing

/// docs/ARCHITECTURE.md's module table is the rule: every project module a target's sources import
/// must be listed there for that target. SwiftPM already refuses an import Package.swift does not
/// declare; this keeps the document, which people read, and the code, which the compiler reads, the same.
@Suite("Architecture")
struct ArchitectureTests {
    /// Target → the project modules it may import, from the table.
    static func allowed() throws -> [String: Set<String>] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        var table: [String: Set<String>] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            let target = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            table[target] = Set(cells[3].split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            }.filter { !$0.isEmpty })
        }
        return table
    }

    /// Every `import X` (with any attribute or access level before it) in a target's Swift files.
    static func imports(of target: URL) -> [(file: String, module: String)] {
        let files = FileManager.default.enumerator(at: target, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" } ?? []
        var found: [(String, String)] = []
        for file in files {
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                guard let index = words.firstIndex(of: "import"), index + 1 < words.count,
                      words[..<index].allSatisfy({ $0.hasPrefix("@") || ["internal", "public", "package", "private", "fileprivate"].contains($0) })
                else { continue }
                found.append((file.lastPathComponent, words[index + 1]))
            }
        }
        return found
    }

    @Test("every target in Sources/ is in the table, and imports only the project modules the table allows it")
    func importsFollowTheTable() throws {
        let allowed = try Self.allowed()
        let sources = repositoryRoot.appendingPathComponent("Sources")
        let targets = try FileManager.default.contentsOfDirectory(atPath: sources.path).filter { !$0.hasPrefix(".") }
        let projectModules = Set(targets.map { $0.replacingOccurrences(of: "-", with: "_") })
        #expect(!targets.isEmpty)
        for target in targets.sorted() {
            guard let mayImport = allowed[target] else {
                Issue.record("Sources/\(target) is not in docs/ARCHITECTURE.md's module table")
                continue
            }
            for (file, module) in Self.imports(of: sources.appendingPathComponent(target))
            where projectModules.contains(module) && !mayImport.contains(module) {
                Issue.record("Sources/\(target)/…/\(file) imports \(module), which docs/ARCHITECTURE.md does not allow \(target)")
            }
        }
    }

    @Test("the table's rows name real targets")
    func tableNamesRealTargets() throws {
        let sources = repositoryRoot.appendingPathComponent("Sources")
        for target in try Self.allowed().keys {
            #expect(FileManager.default.fileExists(atPath: sources.appendingPathComponent(target).path),
                    "\(target) is in the table but not in Sources/")
        }
    }
}
