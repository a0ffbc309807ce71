// libFuzzer target: a submission file, read as CSV and as JSON Lines (built only by
// deploy/local/fuzz.sh).
import ParcelFuzzProperties

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSubmissionReader(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    FuzzProperties.require(FuzzProperties.Target.submissionReader.check(bytes), .submissionReader)
    return 0
}
