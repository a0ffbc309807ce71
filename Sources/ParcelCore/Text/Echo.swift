/// Cuts untrusted text before it is echoed into a reason, a log line or a dead-letter header.
///
/// A value in a message or a file can be as long as its sender likes; echoed whole, one 200 KB field
/// made a dead-letter header larger than a frame. Every echo goes through here. (Cutting is not
/// escaping: a terminal or a page still escapes what it shows.)
public enum Echo {
    /// The most of one echoed value that is kept, in Unicode scalars.
    public static let maxValueScalars = 64
    /// The longest reason, in UTF-8 bytes.
    public static let maxReasonBytes = 1024

    /// `value`, cut to ``maxValueScalars`` with a note of how much was left out.
    public static func value(_ value: some StringProtocol) -> String {
        let bytes = value.utf8.count
        guard bytes > maxValueScalars else { return String(value) }
        let kept = String(String.UnicodeScalarView(value.unicodeScalars.prefix(maxValueScalars)))
        let left = bytes - kept.utf8.count
        return left == 0 ? kept : "\(kept)…(\(left) more bytes)"
    }

    /// `value` in single quotes, cut as ``value(_:)``.
    public static func quoted(_ value: some StringProtocol) -> String { "'\(Self.value(value))'" }

    /// A whole reason, cut to ``maxReasonBytes`` on a character boundary.
    public static func reason(_ reason: String) -> String {
        guard reason.utf8.count > maxReasonBytes else { return reason }
        let marker = "…(cut)"
        var kept = String.UnicodeScalarView()
        var bytes = 0
        for scalar in reason.unicodeScalars {
            let width = String(scalar).utf8.count
            guard bytes + width <= maxReasonBytes - marker.utf8.count else { break }
            kept.append(scalar)
            bytes += width
        }
        return String(kept) + marker
    }
}
