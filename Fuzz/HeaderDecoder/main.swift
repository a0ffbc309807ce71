// libFuzzer target: a content header's field table through the header decoder (built only by
// deploy/local/fuzz.sh).
import ParcelFuzzProperties

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHeaderDecoder(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    // As given (its own 4-byte length first), and with the length it should have, so that mutations
    // inside the table are not all lost to a length that no longer matches.
    FuzzProperties.require(FuzzProperties.Target.headerDecoder.check(bytes), .headerDecoder)
    if count >= 4 {
        let body = bytes.dropFirst(4)
        let length = [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: body.count >> $0) }
        guard !bytes.starts(with: length) else { return 0 }
        FuzzProperties.require(FuzzProperties.Target.headerDecoder.check(length + body), .headerDecoder)
    }
    return 0
}
