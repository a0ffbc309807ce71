/// Numbers as ParcelFlow prints them, the same in every locale: `1,797` and `540.2`.
public enum NumberText {
    /// `1,797`
    public static func integer(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// One decimal: `540.2`.
    public static func decimal(_ value: Double) -> String {
        // Beyond what an Int holds in tenths (or not a number), as Swift writes it rather than a trap.
        guard value.isFinite, abs(value) < 1e17 else { return "\(value)" }
        let tenths = Int((value * 10).rounded())
        return integer(tenths / 10) + "." + String(abs(tenths % 10))
    }
}
