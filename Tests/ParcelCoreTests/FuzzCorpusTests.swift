import Foundation
import ParcelCore
import ParcelFuzzProperties
import Testing

/// The fuzz targets' properties (`Tests/FuzzProperties`) over the committed corpus: the seeds and
/// every input a fuzzer found (`Tests/FuzzCorpus/regressions`), so what was fixed stays fixed without
/// running a fuzzer. `deploy/local/fuzz.sh` runs the fuzzers themselves.
@Suite("Fuzz corpus: task decoder and submission reader")
struct FuzzCorpusTests {
    @Test("every committed task body keeps the decoder's properties (fast path = thorough path, bounded reasons)")
    func taskDecoder() throws {
        let corpus = try FuzzProperties.Target.taskDecoder.corpus()
        #expect(corpus.count >= 10, "the seed corpus is missing")
        var accepted = 0
        for (name, bytes) in corpus {
            #expect(FuzzProperties.taskDecoder(Data(bytes)) == [], "\(name)")
            if case .success = TaskEnvelope.decode(Data(bytes)) { accepted += 1 }
        }
        #expect(accepted >= 7, "the valid examples decode")
    }

    @Test("every committed submission file keeps the reader's properties in both formats (lines, order, bounds)")
    func submissionReader() throws {
        let corpus = try FuzzProperties.Target.submissionReader.corpus()
        #expect(corpus.count >= 5, "the seed corpus is missing")
        for (name, bytes) in corpus {
            #expect(FuzzProperties.submissionReader(Data(bytes)) == [], "\(name)")
        }
    }
}
