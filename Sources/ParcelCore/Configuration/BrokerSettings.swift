/// Where ParcelFlow's programs find the broker: a flag wins over `PARCELFLOW_AMQP_URL`, which wins
/// over the local node that `deploy/local/broker.sh` starts.
public enum BrokerSettings {
    /// The node `deploy/local` runs on this machine: loopback, its own port, the guest account (which
    /// RabbitMQ allows from loopback only).
    public static let defaultURL = "amqp://guest:guest@127.0.0.1:5682/%2f"
    public static let environmentVariable = "PARCELFLOW_AMQP_URL"

    /// The broker URL(s) to use, by precedence: `flag`, then the environment, then ``defaultURL``.
    public static func url(flag: String?, environment: [String: String]) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let value = environment[environmentVariable], !value.isEmpty { return value }
        return defaultURL
    }
}
