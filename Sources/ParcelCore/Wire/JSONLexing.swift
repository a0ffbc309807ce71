/// The parts of JSON's grammar (RFC 8259) that both parsers read the same way: the escape after a
/// backslash in a string, and the extent of a number. ``JSONParser`` (a task per message, fast, nil
/// on anything wrong) and ``LocatedJSON`` (a file people write, every problem said with its line and
/// column) differ in what they keep and how they fail, not in what JSON is.
enum JSONLexing {
    /// Why an escape could not be read. `index` is then at the byte at fault.
    enum EscapeProblem: Sendable, Hashable {
        /// The text ends inside the escape.
        case truncated
        /// `\u` without four hexadecimal digits.
        case notHex
        /// A high surrogate not followed by `\u` and a low surrogate.
        case loneHighSurrogate
        case loneLowSurrogate
        /// A backslash before a character that is no escape.
        case unknown(UInt8)
    }

    /// Reads the escape whose backslash is just before `index`, appends the character it stands for
    /// to `utf8` as UTF-8, and moves `index` past it.
    static func unescape<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, at index: inout Int,
                                                               into utf8: inout [UInt8]) -> EscapeProblem?
    where Bytes.Index == Int {
        guard index < bytes.endIndex else { return .truncated }
        let escaped = bytes[index]
        index += 1
        switch escaped {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            guard var scalar = hex4(bytes, at: &index) else { return .notHex }
            if (0xD800...0xDBFF).contains(scalar) {
                guard index + 1 < bytes.endIndex, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                else { return .loneHighSurrogate }
                index += 2
                guard let low = hex4(bytes, at: &index) else { return .notHex }
                guard (0xDC00...0xDFFF).contains(low) else { return .loneHighSurrogate }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else { return .loneLowSurrogate }
            utf8.append(contentsOf: String(unicode).utf8)
        default:
            index -= 1
            return .unknown(escaped)
        }
        return nil
    }

    /// Four hexadecimal digits at `index`, moving past them; nil (with `index` at the first byte that
    /// is not one) when there are fewer.
    private static func hex4<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, at index: inout Int) -> UInt32?
    where Bytes.Index == Int {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard index < bytes.endIndex, let digit = hexDigit(bytes[index]) else { return nil }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// Moves `index` past the number that starts there (`-`? then `0` or digits, then an optional
    /// fraction and exponent). Whether it is integral (no fraction, no exponent); nil, with `index`
    /// at the byte where a digit was wanted, when it is not a number. A `0` followed by more digits
    /// ends after the `0`: what follows is for the caller to refuse.
    static func scanNumber<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, at index: inout Int) -> Bool?
    where Bytes.Index == Int {
        func current() -> UInt8? { index < bytes.endIndex ? bytes[index] : nil }
        func digits() -> Bool {
            let start = index
            while let byte = current(), isDigit(byte) { index += 1 }
            return index > start
        }
        if current() == UInt8(ascii: "-") { index += 1 }
        guard let first = current(), isDigit(first) else { return nil }
        index += 1
        if first != UInt8(ascii: "0") { _ = digits() }
        var integral = true
        if current() == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard digits() else { return nil }
        }
        if current() == UInt8(ascii: "e") || current() == UInt8(ascii: "E") {
            integral = false
            index += 1
            if current() == UInt8(ascii: "+") || current() == UInt8(ascii: "-") { index += 1 }
            guard digits() else { return nil }
        }
        return integral
    }
}
