// libFuzzer target: a message body through the task decoder (built only by deploy/local/fuzz.sh).
import ParcelFuzzProperties

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTaskDecoder(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    FuzzProperties.require(FuzzProperties.Target.taskDecoder.check(bytes), .taskDecoder)
    return 0
}
