@testable import AMQP
import ParcelFuzzProperties
import Testing

/// The header fuzz target's property (`Tests/FuzzProperties`) over the committed corpus: the seeds
/// and every input a fuzzer found (`Tests/FuzzCorpus/regressions/header-decoder`).
@Suite("Fuzz corpus: header decoder")
struct HeaderFuzzCorpusTests {
    @Test("every committed field table decodes as rabbitmq-c reads it, within the bounds or refused for the right one")
    func headerDecoder() throws {
        let corpus = try FuzzProperties.Target.headerDecoder.corpus()
        #expect(corpus.count >= 10, "the seed corpus is missing")
        for (name, bytes) in corpus {
            #expect(FuzzProperties.headerDecoder(bytes) == [], "\(name)")
        }
        // The seeds at and just past each bound.
        let outcomes = Dictionary(uniqueKeysWithValues: corpus.map { ($0.name, AMQPHeaderDecoding.decode($0.bytes)) })
        let deep = AMQPHeaderDecoding.Outcome.refused(.headersTooDeep(limit: 16))
        #expect(outcomes["header-decoder/depth-17-tables"] == deep)
        #expect(outcomes["header-decoder/depth-17-arrays"] == deep)
        #expect(outcomes["header-decoder/entries-1001"] == .refused(.tooManyHeaders(limit: 1000)))
        for name in ["depth-16-tables", "depth-16-arrays", "entries-1000", "typical", "every-kind"] {
            guard case .table = outcomes["header-decoder/\(name)"] else {
                Issue.record("\(name): \(String(describing: outcomes["header-decoder/\(name)"]))")
                continue
            }
        }
        #expect(outcomes["header-decoder/truncated"] == .malformed)
        #expect(outcomes["header-decoder/bad-kind"] == .malformed)
    }
}
