/// The metadata keys ParcelFlow's log lines use: dotted, lower case, the same on every line that
/// carries them, so that one parcel can be followed through every worker's logs
/// (`grep parcel.id=P-2026-000042`, or a log shipper's query on the JSON format's `parcel.id`).
public enum LogKey {
    public static let parcelID = "parcel.id"
    public static let stage = "task.stage"
    public static let attempt = "task.attempt"
    public static let outcome = "task.outcome"
    /// How many tasks a line is about (a batch).
    public static let tasks = "task.count"
    /// The broker the worker is connected to (no password).
    public static let endpoint = "amqp.endpoint"
    /// The status store a line is about (never with a password).
    public static let store = "store"
    public static let error = "error"
    public static let delay = "retry.in"
}
